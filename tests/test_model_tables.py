"""The tone model's ready-made lookup tables (phrasecheck.classify.tables) and the user cache.

Loading a model through its tables must give the very model its JSON gives: the same
probabilities, explanations and file text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from phrasecheck.classify import ToneModel, default_model_path, load_model
from phrasecheck.classify.tables import read_tables, sha256_of, tables_bytes

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ["您好，请问有什么可以帮您？", "你自己看公告", "这个不归我管，你问别人去", "好的", "请稍等",
         "说了多少遍了，你自己看不懂吗？", "ＯＫ，马上 为您 办理", "回去等通知吧"]


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("PHRASECHECK_CACHE_DIR", str(cache))
    return cache


def _same(a: ToneModel, b: ToneModel) -> None:
    assert a.predict(TEXTS, explain=5) == b.predict(TEXTS, explain=5)
    assert [a.predict_proba([t]) for t in TEXTS] == [b.predict_proba([t]) for t in TEXTS]
    assert a.metadata == b.metadata and a.classes == b.classes
    assert a.to_json() == b.to_json()


@pytest.mark.parametrize("name", ["tone", "complaint"])
def test_shipped_tables_are_those_of_the_shipped_model(name: str) -> None:
    path = default_model_path(name)
    if path is None:
        pytest.skip("no bundled model")
    raw = Path(str(path)).read_bytes()
    tables = Path(str(path)).with_suffix(".tables")
    regenerate = f"python -m phrasecheck.classify.tables src/phrasecheck/models/{name}.json"
    assert tables.is_file(), f"no models/{name}.tables: {regenerate}"
    assert read_tables(tables.read_bytes(), sha256_of(raw)) is not None, (
        f"models/{name}.tables was made from another {name}.json: {regenerate}")
    fast = load_model(path)
    assert fast._spec is None  # loaded from the tables, not the JSON
    _same(fast, ToneModel(json.loads(raw)))
    assert fast.to_json() == raw.decode("utf-8")


def test_a_model_read_once_loads_from_the_cache_next_time(shipped: Any, tmp_path: Path,
                                                          own_cache: Path) -> None:
    path = shipped.save(tmp_path / "m.json")
    first = load_model(path)
    assert first._spec is not None  # read from JSON ...
    kept = list(own_cache.rglob("tone-*.tables"))
    assert len(kept) == 1  # ... and its tables kept
    second = load_model(path)
    assert second._spec is None
    _same(first, second)
    # another model file (other bytes) never uses them
    other = shipped.with_metadata(note="another model")
    other.save(path)
    assert load_model(path)._spec is not None


def test_tables_that_do_not_match_or_read_back_are_ignored(shipped: Any, tmp_path: Path
                                                          ) -> None:
    path = shipped.save(tmp_path / "m.json")
    raw = path.read_bytes()
    good = tables_bytes(json.loads(raw), sha256_of(raw))
    assert good is not None
    assert read_tables(good, sha256_of(raw)) is not None
    assert read_tables(good, "0" * 64) is None  # made from another model
    for bad in (good[:-8], good + b"x", b"PCTT1\n" + good[6:20], b"\x80pickle", b""):
        assert read_tables(bad, sha256_of(raw)) is None
    path.with_suffix(".tables").write_bytes(good[:-1])  # a damaged file beside the model
    model = load_model(path)
    assert model._spec is not None  # fell back to the JSON
    _same(model, shipped)


def test_no_cache_directory_means_no_cache(shipped: Any, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHRASECHECK_CACHE_DIR", "")
    path = shipped.save(tmp_path / "m.json")
    assert load_model(path)._spec is not None
    assert load_model(path)._spec is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


def test_packed_terms_are_a_mapping_of_the_model_files_terms() -> None:
    """A block's terms read from tables (or from JSON) are a read-only mapping term →
    (idf, coefficients) equal to the file's, whichever way they are read."""
    from phrasecheck.classify.tables import PackedTerms

    path = default_model_path("complaint")
    if path is None:
        pytest.skip("no bundled model")
    raw = Path(str(path)).read_bytes()
    spec = json.loads(raw)
    width = 1 + len(spec["classes"])
    read = read_tables(Path(str(path)).with_suffix(".tables").read_bytes(), sha256_of(raw))
    assert read is not None
    for block, packed in zip(spec["features"]["blocks"], read[1], strict=True):
        want = {t: (v[0], tuple(v[1:])) for t, v in block["terms"].items()}
        from_json = PackedTerms.from_rows(block["terms"], width)
        for terms in (packed, from_json):
            assert len(terms) == len(want) and list(terms) == list(want)
            assert dict(terms.items()) == want and list(terms.values()) == list(want.values())
            assert [(t, (i, c)) for t, i, c in terms.entries()] == list(want.items())
            term = next(iter(want))
            assert terms[term] == want[term] and terms.get("not a term") is None
            assert term in terms and "not a term" not in terms
            assert terms.unpack(term, terms.row[term]) == want[term]
            terms.unpack_all()  # what warm() does: every row unpacked, the same numbers
            assert terms.seen == want
