"""The tokenizer: its own jieba, lazily loaded; the rjieba backend gives jieba's tokens."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phrasecheck.tokenize import JiebaTokenizer, Tokenizer

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("rjieba")

JIEBA = JiebaTokenizer(hmm=False)
FAST = JiebaTokenizer(hmm=False, backend="auto")


def corpus_texts() -> list[str]:
    from phrasecheck import read_conversations
    from phrasecheck.classify import normalize_reply

    texts = []
    for p in sorted((ROOT / "corpora" / "replies").glob("replies_*.csv")):
        with open(p, encoding="utf-8", newline="") as fh:
            texts += [row["text"] for row in csv.DictReader(fh)]
    texts += [t.text for c in read_conversations(ROOT / "corpora" / "demo") for t in c.turns]
    return texts + [normalize_reply(t) for t in texts]


def test_backends() -> None:
    assert FAST.backend == "rjieba" and JIEBA.backend == "jieba"
    # configurations rjieba cannot reproduce stay on jieba
    assert JiebaTokenizer(backend="auto").backend == "jieba"  # HMM on
    assert JiebaTokenizer(hmm=False, words=["不归我管"], backend="auto").backend == "jieba"
    assert isinstance(FAST, Tokenizer)
    with pytest.raises(ValueError, match="backend"):
        JiebaTokenizer(backend="pkuseg")


def test_same_tokens_on_every_corpus_text() -> None:
    texts = corpus_texts()
    assert len(texts) > 5000
    diffs = [t for t in texts if JIEBA.lcut(t) != FAST.lcut(t)]
    assert diffs == []


CHARS = list("您好请问不知道办理社保卡的了吗 ab9-_.:,，。？!~")


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(), st.text(st.sampled_from(CHARS))))
def test_same_tokens_on_any_text(text: str) -> None:
    assert FAST.lcut(text) == JIEBA.lcut(text)
    assert FAST.tokenize(text) == JIEBA.tokenize(text)


def test_loading_is_lazy_and_never_global() -> None:
    import jieba

    tk = JiebaTokenizer()
    assert not tk.loaded
    assert tk.lcut("您好请问") == ["您好", "请问"]
    assert tk.loaded and tk._jieba is not jieba.dt
