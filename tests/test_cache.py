"""phrasecheck._cache: where start-up work is kept, and that keeping it changes no result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from phrasecheck import _cache
from phrasecheck._yaml import load_located

ROOT = Path(__file__).resolve().parents[1]
LEXICON = ROOT / "lexicons" / "banned.yaml"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PHRASECHECK_CACHE_DIR", str(tmp_path / "c"))
    return tmp_path / "c"


def test_the_cache_directory_is_per_version_and_private(cache: Path) -> None:
    root = _cache.cache_dir()
    assert root == cache / _cache.__version__
    assert root.is_dir() and (root.stat().st_mode & 0o077) == 0


def test_an_empty_setting_turns_the_cache_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHRASECHECK_CACHE_DIR", "")
    assert _cache.cache_dir() is None
    assert _cache.cached_json("x", "k", lambda: [1]) == [1]


def test_an_unwritable_place_means_no_cache(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory", encoding="utf-8")
    monkeypatch.setenv("PHRASECHECK_CACHE_DIR", str(blocker / "cache"))
    assert _cache.cache_dir() is None


def test_default_place_is_the_user_cache_never_the_working_directory(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PHRASECHECK_CACHE_DIR"}
    env.update(HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "xdg"))
    work = tmp_path / "work"
    work.mkdir()
    code = ("from phrasecheck import Analyzer; from phrasecheck._cache import cache_dir; "
            "Analyzer().check_text('您好，这个不归我管'); print(cache_dir())")
    out = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, check=True,
                         capture_output=True, text=True).stdout.strip()
    if sys.platform.startswith("linux"):
        assert out.startswith(str(tmp_path / "xdg" / "phrasecheck"))
    assert list(work.iterdir()) == []


def test_cached_json_builds_once_and_rebuilds_what_is_damaged(cache: Path) -> None:
    calls = []

    def build() -> dict[str, int]:
        calls.append(1)
        return {"a": 1}

    assert _cache.cached_json("t", "k", build) == {"a": 1}
    assert _cache.cached_json("t", "k", build) == {"a": 1}
    assert len(calls) == 1
    (path,) = (cache / _cache.__version__).glob("t-k.json")
    path.write_text("{not json", encoding="utf-8")
    assert _cache.cached_json("t", "k", build) == {"a": 1}
    assert len(calls) == 2
    assert json.loads(path.read_text(encoding="utf-8")) == {"a": 1}


def test_yaml_read_from_the_cache_is_what_the_parser_gives(cache: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    text = LEXICON.read_text(encoding="utf-8")
    parsed = load_located(text, str(LEXICON))  # parsed, and kept
    assert list((cache / _cache.__version__).glob("yaml-*.json"))
    monkeypatch.setattr("phrasecheck._yaml._parse", lambda *_: pytest.fail("parsed again"))
    assert load_located(text, str(LEXICON)) == parsed


def test_the_same_findings_with_and_without_a_cache(tmp_path: Path) -> None:
    """Fresh processes: one filling an empty cache, one reading it, one with no cache."""
    code = ("import json; from phrasecheck import Analyzer; a = Analyzer(); "
            "texts = ['您好，這個不歸我管，你問別人去', 'ＮＯ，不*知*道', "
            "'您好，请稍等，马上为您办理。', '你听不懂吗？说了多少遍了', '啰嗦什么', "
            "'请' * 600 + '這個不歸我管']; "
            "print(json.dumps([[f.to_dict() for f in a.check_text(t)] for t in texts]))")
    runs = []
    for setting in (str(tmp_path / "c"), str(tmp_path / "c"), ""):
        env = {**os.environ, "PHRASECHECK_CACHE_DIR": setting}
        runs.append(subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                   capture_output=True, text=True).stdout)
    assert runs[0] == runs[1] == runs[2]
    assert json.loads(runs[0])[0]  # findings, not three empty lists
