"""The numpy batch scorer of the reply-tone model (phrasecheck._tonevec) gives exactly what
the per-reply Python path gives: the same probabilities to the bit, the same explanations.

``ToneModel.predict`` takes the batch path from a few texts on; ``predict([text])`` takes
the per-reply path, so comparing the two compares the implementations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phrasecheck import Analyzer, read_conversations
from phrasecheck._tonevec import build
from phrasecheck.classify import (
    ToneModel,
    load_replies,
    train_model,
)
from phrasecheck.types import Conversation

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpora" / "replies"
DEMO = ROOT / "corpora" / "demo"


@pytest.fixture(scope="module")
def replies() -> pd.DataFrame:
    return load_replies(CORPUS)


def one_by_one(model: ToneModel, texts: list[str], explain: int | None) -> list[Any]:
    return [model.predict([t], explain=explain)[0] for t in texts]


def assert_same(model: ToneModel, texts: list[str], explain: int | None = 5) -> None:
    model._batch_scorer()  # batches go to numpy from now on, however few texts came before
    batch = model.predict(texts, explain=explain)
    single = one_by_one(model, texts, explain)
    for text, b, s in zip(texts, batch, single, strict=True):
        assert b == s, f"{text!r}: batch {b} != one by one {s}"
    # predict_proba has the model's classes (sub-categories included), in its order
    assert model.predict_proba(texts) == [
        [(s.sub_probabilities or s.probabilities)[c] for c in model.classes] for s in single]


def test_shipped_model_has_a_batch_scorer(shipped: ToneModel) -> None:
    assert shipped._batch_scorer()


def test_every_corpus_reply_scores_the_same_in_batches(shipped: ToneModel,
                                                       replies: pd.DataFrame) -> None:
    texts = replies["text"].tolist()
    for start in range(0, len(texts), 97):
        assert_same(shipped, texts[start:start + 97], explain=None)


EDGE_TEXTS = [
    "",                               # nothing
    " ",                              # whitespace only (normalises to "")
    "好",                              # one character: no bigrams
    "好的",
    "说了多少遍了说了多少遍了说了多少遍了",  # repeated n-grams: counts > 1 (sublinear tf)
    "a_b 你_好 __ _",                  # "_" inside tokens and bigram names
    "亲~😀😀 这个🙂要等等哦",            # outside the BMP
    "你好\ud800吗",                     # a lone surrogate
    "ＡＢＣ　１２３，全角",               # NFKC folding
    "\t多个\n\n空白   在这里 ",
    "qwxz ǂǂǂ ꙮꙮ",                     # nothing in the vocabulary
    "ΟΔΟΣ\ue000ΣΑ \u1100\u1161",       # final sigma, the batch separator, jamo
    "您好，请出示一下身份证和户口本，谢谢。" * 40,  # long
]


@pytest.mark.parametrize("explain", [None, 0, 5, 50])
def test_edge_texts_score_the_same_in_a_batch(shipped: ToneModel, explain: int | None) -> None:
    assert_same(shipped, EDGE_TEXTS, explain=explain)
    # and each edge text inside a batch of ordinary replies, at every position
    filler = ["好的，马上给您办。", "你自己看公告", "回去等通知吧", "请稍等"]
    for text in EDGE_TEXTS:
        assert_same(shipped, [*filler[:2], text, *filler[2:]], explain=explain)


def test_batches_of_every_size_agree(shipped: ToneModel, replies: pd.DataFrame) -> None:
    texts = replies["text"].tolist()[:40]
    whole = shipped.predict(texts, explain=5)
    for size in (1, 2, 3, 4, 5, 13):
        parts = [r for i in range(0, len(texts), size)
                 for r in shipped.predict(texts[i:i + size], explain=5)]
        assert parts == whole, size


_CHARS = "您你好请问不知道说了多少遍回去等通知吧呢哦啊？?！!。，, _~a1身份证户口本办理窗口系统规定"
ALPHABET = st.sampled_from([*_CHARS, "😀", "\u3000", "\n",
                            # final sigma, a combining accent, Hangul jamo (compose under
                            # NFKC), the batch separator itself
                            "Σ", "σ", "A", "\u0301", "\u1100", "\u1161", "\ue000"])


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(ALPHABET, max_size=40), min_size=4, max_size=12))
def test_property_batch_equals_one_by_one(shipped: ToneModel, texts: list[str]) -> None:
    assert_same(shipped, texts, explain=5)


# decision values as the models produce them, with exact ties (equal columns) and big gaps
_SCORE = st.one_of(st.floats(-30, 30, allow_nan=False), st.sampled_from([0.0, -0.0, 1.5, 40.0]))


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(_SCORE, min_size=4, max_size=4), min_size=1, max_size=20),
       st.sampled_from([None, {"ok": 0.5, "rude": 0.2, "evasive": 0.3},
                        {"ok": 0.999, "rude": 0.0005, "evasive": 0.0005}]))
def test_property_numpy_verdicts_equal_the_per_row_ones(
        shipped: ToneModel, rows: list[list[float]], prior: dict[str, float] | None) -> None:
    """The batch path turns its (n, classes) array of decision values into probabilities,
    labels and classes in numpy; the per-reply path does it row by row in Python. Same bits,
    same first-of-equal-maxima choices."""
    import numpy as np

    model = shipped if prior is None else shipped.with_prior(prior)
    got, want = model._verdicts_np(np.array(rows, dtype=np.float64)), model._verdicts_py(rows)
    assert (got.probs, got.public, got.label, got.cls, got.balanced) == (
        want.probs, want.public, want.label, want.cls, want.balanced)


@pytest.fixture(scope="module")
def small_rows(replies: pd.DataFrame) -> pd.DataFrame:
    parts = [replies[replies["label"] == lab].sample(n=90, random_state=1)
             for lab in ("ok", "rude", "evasive")]
    return pd.concat(parts).reset_index(drop=True)


@pytest.mark.parametrize("params", [
    {"features": "char", "char_ngram_range": (2, 3), "calibration": "none"},
    {"features": "word", "word_ngram_range": (2, 2), "calibration": "none"},
    {"features": "char+word", "char_ngram_range": (1, 1), "word_ngram_range": (1, 1),
     "calibration": "none", "sublinear_tf": False},
    {"features": "char+word", "calibration": "sigmoid", "cv": 3},
])
def test_other_feature_settings_batch_the_same(params: dict[str, Any],
                                               small_rows: pd.DataFrame,
                                               replies: pd.DataFrame) -> None:
    model = train_model(small_rows, seed=0, cv_metrics=False, **params)
    assert model._batch_scorer()
    assert_same(model, replies["text"].tolist()[-60:] + EDGE_TEXTS)


def test_ranges_it_cannot_pack_use_the_per_reply_path(small_rows: pd.DataFrame) -> None:
    model = train_model(small_rows, seed=0, cv_metrics=False, features="char",
                        char_ngram_range=(1, 4), calibration="none")
    assert build(model._blocks, model._intercept, str.split) is None
    assert model._batch_scorer() is False
    texts = small_rows["text"].tolist()[:10]
    assert_same(model, texts)


# ------------------------------------------------------------------- Analyzer.score_many


@pytest.fixture(scope="module")
def demo() -> list[Conversation]:
    convs = [c for c in read_conversations(DEMO) if isinstance(c, Conversation)]
    assert len(convs) > 50
    return convs


@pytest.mark.parametrize("batch", [1, 3, 16, 1000])
def test_score_many_equals_score_one_by_one(demo: list[Conversation], batch: int) -> None:
    analyzer = Analyzer()
    expected = [analyzer.score(c) for c in demo]
    assert list(analyzer.score_many(demo, batch=batch)) == expected


def test_score_many_is_lazy_and_checks_its_input(demo: list[Conversation]) -> None:
    analyzer = Analyzer()
    it = analyzer.score_many(iter(demo), batch=4)
    first = next(it)
    assert first == analyzer.score(demo[0])
    with pytest.raises(TypeError, match="expected a Conversation, got str"):
        list(analyzer.score_many(["not a conversation"]))
    with pytest.raises(ValueError, match="batch=0"):
        list(analyzer.score_many(demo, batch=0))



@pytest.mark.parametrize("enabled", [True, False])
def test_score_many_holds_the_collector_only_while_it_scores(demo: list[Conversation],
                                                            enabled: bool) -> None:
    """The collector is paused while a chunk is scored, never while the caller's code runs
    between results, and is left as the caller had it."""
    import gc

    analyzer = Analyzer()
    seen = []
    (gc.enable if enabled else gc.disable)()
    try:
        for _ in analyzer.score_many(demo[:10], batch=4):
            seen.append(gc.isenabled())
        assert seen == [enabled] * 10
        assert gc.isenabled() is enabled
    finally:
        gc.enable()


def test_keys_too_wide_to_pack_count_the_same(shipped: ToneModel, replies: pd.DataFrame,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from phrasecheck import _tonevec

    texts = [*replies["text"].tolist()[:60], *EDGE_TEXTS]
    expected = one_by_one(shipped, texts, 5)
    monkeypatch.setattr(_tonevec, "_PACK_BITS", 0)  # force the np.unique path
    assert shipped.predict(texts, explain=5) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(st.one_of(ALPHABET, st.characters()), max_size=8), max_size=6))
def test_property_batch_normalisation_equals_one_by_one(texts: list[str]) -> None:
    from phrasecheck.classify.features import _normalize_replies, normalize_reply

    assert _normalize_replies(texts) == [normalize_reply(t) for t in texts]


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(), st.text(st.one_of(ALPHABET, st.sampled_from(
    ["ﬁ", "㈱", "İ", "Ａ", "１", "\u0308", "\u0323", "\u11a8", "한", "𝐀"])))))
def test_property_fast_nfkc_is_nfkc(text: str) -> None:
    import unicodedata

    from phrasecheck.classify.features import _nfkc

    assert _nfkc(text) == unicodedata.normalize("NFKC", text)


_NFKC_ODD = st.sampled_from(["ﬁ", "㈱", "…", "İ", "Ａ", "１", "，", "\u0308", "\u0323", "\u11a8",
                             "한", "𝐀", "\ud83d", "😀", "\ue000"])


@settings(max_examples=300, deadline=None)
@given(st.text(st.one_of(ALPHABET, st.characters(), _NFKC_ODD), min_size=200, max_size=600))
def test_property_batch_nfkc_is_nfkc(text: str) -> None:
    """The numpy path for a joined batch (256 characters and more) gives NFKC exactly."""
    from phrasecheck.classify.features import _nfkc, _nfkc_batch

    assert _nfkc_batch(text) == _nfkc(text)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(st.one_of(ALPHABET, st.characters()), max_size=40), max_size=30))
def test_property_long_batch_normalisation_equals_one_by_one(texts: list[str]) -> None:
    from phrasecheck.classify.features import _normalize_replies, normalize_reply

    assert _normalize_replies(texts) == [normalize_reply(t) for t in texts]


_SCREEN_TEXTS = ["好的", "你自己看公告", "好的", "请稍等", "这不归我们管，你去问别人", "有的。",
                 "你烦不烦啊，说了多少遍了", "您好，请问有什么可以帮您？", "", "自己去查"]


@pytest.mark.parametrize("thresholds", [
    {"rude": 0.5, "evasive": 0.5}, {"rude": 0.0}, {"evasive": 0.9}, {"rude": 1.1},
    {"no-such-label": 0.1}, {}])
def test_predict_reportable_keeps_what_could_be_reported(
        shipped: ToneModel, replies: pd.DataFrame, thresholds: dict[str, float]) -> None:
    from phrasecheck.tone import could_flag

    texts = [*_SCREEN_TEXTS, *replies["text"].tolist()[:200]]
    full = shipped.predict_shared(texts)
    got = shipped.predict_reportable(texts, thresholds)
    assert len(got) == len(texts)
    for r, g in zip(full, got, strict=True):
        keep = any(could_flag(r, lb, t) for lb, t in thresholds.items())
        assert g == (r if keep else None)
    if thresholds == {"rude": 0.0}:
        assert all(g is not None for g in got)


def test_label_probabilities_are_predicts(shipped: ToneModel, replies: pd.DataFrame) -> None:
    texts = [*_SCREEN_TEXTS, *replies["text"].tolist()[:200]]
    for label in shipped.labels:
        got = shipped.label_probabilities(texts, label)
        for r, (p, feats) in zip(shipped.predict(texts), got, strict=True):
            assert p == r.probabilities[label]
            assert feats == (r.features if r.label == label and label != "ok" else ())
    with pytest.raises(ValueError, match="unknown label 'complaint'"):
        shipped.label_probabilities(texts, "complaint")


def test_repeated_texts_are_scored_once_with_results_of_their_own(shipped: ToneModel) -> None:
    texts = ["好的", "你自己看公告", "好的", "请稍等", "你自己看公告", "好的"]
    got = shipped.predict(texts)
    assert got == one_by_one(shipped, texts, None)
    assert got[0].probabilities is not got[2].probabilities
    calls: list[int] = []
    real = shipped._many_scores

    def counting(batch: list[str]) -> Any:
        calls.append(len(batch))
        return real(batch)

    shipped._many_scores = counting  # type: ignore[method-assign]
    try:
        shipped.predict(texts)
    finally:
        del shipped._many_scores
    assert calls == [3]


def test_the_batch_tables_are_built_only_once_they_pay(replies: pd.DataFrame) -> None:
    from phrasecheck.classify import default_model_path, load_model
    from phrasecheck.classify.model import _BATCH_AFTER

    path = default_model_path()
    if path is None:
        pytest.skip("no bundled model")
    fresh = load_model(path)
    texts = replies["text"].tolist()
    few = fresh.predict(texts[:40])  # a conversation or two: the per-reply path
    assert fresh._batch is None
    for start in range(40, _BATCH_AFTER + 40, 200):
        fresh.predict(texts[start:start + 200])
    assert fresh._batch  # built once enough texts came in batches
    assert fresh.predict(texts[:40]) == few
