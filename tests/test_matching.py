"""Table-driven matcher cases: (text, expected [(code, surface text)]) in position order."""

from __future__ import annotations

import pytest

from phrasecheck.lexicon import Lexicon
from phrasecheck.matching import PhraseMatcher

CASES: list[tuple[str, list[tuple[str, str]]]] = [
    # plain hits
    ("您好", [("T-GRT", "您好")]),
    ("你好", [("T-GRT", "你好")]),
    ("您好呀，有什么事", [("T-GRT", "您好呀")]),
    ("请稍等", [("T-WAIT", "请稍等")]),
    ("请您稍等一下", [("T-WAIT", "请您稍等")]),
    ("感谢您的耐心等待", [("T-WTHX", "感谢您的耐心等待")]),
    ("谢谢，再见", [("T-THX", "谢谢"), ("T-BYE", "再见")]),
    ("我不知道", [("T-STW", "不知道")]),
    ("这事不归我管", [("T-DEF", "不归我管")]),
    ("这事不归我们管。", [("T-DEF", "不归我们管")]),
    ("下班了，明天来", [("T-OFF", "下班了")]),
    ("", []),
    ("   ", []),
    ("hello world", []),
    # back-to-back phrases (no spaces between Chinese phrases)
    ("您好请问", [("T-GRT", "您好"), ("T-REQ", "请问")]),
    ("您好请问请稍等谢谢再见", [("T-GRT", "您好"), ("T-REQ", "请问"), ("T-WAIT", "请稍等"),
                          ("T-THX", "谢谢"), ("T-BYE", "再见")]),
    ("谢谢谢谢", [("T-THX", "谢谢"), ("T-THX", "谢谢")]),
    # overlaps: nested hits yield to the longer hit
    ("不知道", [("T-STW", "不知道")]),
    ("我知道", [("T-KNOW", "知道")]),
    ("你好烦啊", [("T-RUDE", "你好烦")]),
    ("您好，你好烦", [("T-GRT", "您好"), ("T-RUDE", "你好烦")]),
    ("我不知道了", [("T-STW", "不知道")]),  # same category, partial overlap: leftmost kept
    ("知道了", [("T-STW2", "知道了")]),
    # false-positive traps: banned words inside innocent words
    ("请把滚动条拉到底", []),
    ("洗衣机的滚筒坏了", []),
    ("翻滚吧", []),
    ("这个很可靠", []),  # one-character phrase: needs a whole token, 可靠 is one word
    ("靠，又来了", [("T-KAO", "靠")]),
    ("不知道您是否方便", []),
    ("不知道您方不方便接电话", []),
    ("我们下班了吗？还没有", []),
    ("请问下班时间是几点", [("T-REQ", "请问")]),
    # allow-list applies per occurrence
    ("滚动条不动，你滚", [("T-GUN", "滚")]),
    ("不知道您是否方便？不知道", [("T-STW", "不知道")]),
    # token boundaries (知道 requires whole jieba tokens)
    ("知道", [("T-KNOW", "知道")]),
    ("知道吗", [("T-KNOW", "知道")]),
    # evasion: inserted noise
    ("不 知 道", [("T-STW", "不 知 道")]),
    ("不*知*道", [("T-STW", "不*知*道")]),
    ("不.知.道", [("T-STW", "不.知.道")]),
    ("不_知_道", [("T-STW", "不_知_道")]),
    ("不~知~道", [("T-STW", "不~知~道")]),
    ("不　知　道", [("T-STW", "不　知　道")]),  # ideographic space
    ("不\u200b知\u200b道", [("T-STW", "不\u200b知\u200b道")]),  # zero-width space
    ("不\u200d知道", [("T-STW", "不\u200d知道")]),  # zero-width joiner
    ("不\ufeff知道", [("T-STW", "不\ufeff知道")]),  # BOM inside
    ("不 * 知 * 道", [("T-STW", "不 * 知 * 道")]),
    ("您 好 请 问", [("T-GRT", "您 好"), ("T-REQ", "请 问")]),
    # clause punctuation is not noise
    ("不，知道了", [("T-STW2", "知道了")]),
    ("不。知道", [("T-KNOW", "知道")]),
    # full-width / case
    ("ＮＯ，不知道", [("T-STW", "不知道")]),
    ("您好！请稍等！", [("T-GRT", "您好"), ("T-WAIT", "请稍等")]),
    ("ＯＫ您好", [("T-GRT", "您好")]),
    # traditional Chinese
    ("請稍等", [("T-WAIT", "請稍等")]),
    ("謝謝，再見", [("T-THX", "謝謝"), ("T-BYE", "再見")]),
    ("這事不歸我管", [("T-DEF", "不歸我管")]),
    ("感謝您的耐心等待", [("T-WTHX", "感謝您的耐心等待")]),
    ("您好，請問", [("T-GRT", "您好"), ("T-REQ", "請問")]),
    # mixed evasion
    ("不 歸 我 管", [("T-DEF", "不 歸 我 管")]),
    ("請 稍 等", [("T-WAIT", "請 稍 等")]),
    # ASCII and digits around
    ("ID 12345 您好", [("T-GRT", "您好")]),
    ("您好123请问", [("T-GRT", "您好"), ("T-REQ", "请问")]),
    ("emoji😀您好😀", [("T-GRT", "您好")]),
    # cue kinds are matched too (the analyzer decides which role they apply to)
    ("我要投诉你们", [("T-CMP", "我要投诉")]),
    # long text: hits at both ends
    ("您好" + "的" * 5000 + "再见", [("T-GRT", "您好"), ("T-BYE", "再见")]),
    # repeated phrase
    ("请稍等请稍等", [("T-WAIT", "请稍等"), ("T-WAIT", "请稍等")]),
    ("不知道不知道", [("T-STW", "不知道"), ("T-STW", "不知道")]),
    # noise only between Chinese characters
    ("您-好", [("T-GRT", "您-好")]),
    ("A-B 您好", [("T-GRT", "您好")]),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0][:20] for c in CASES])
def test_matcher_table(matcher: PhraseMatcher, text: str, expected: list[tuple[str, str]]) -> None:
    hits = matcher.find(text)
    got = [(h.code, text[h.start:h.end]) for h in hits]
    assert got == expected
    for h in hits:
        assert 0 <= h.start < h.end <= len(text)


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 60


def test_overlap_all_keeps_everything(test_lexicon: Lexicon) -> None:
    m = PhraseMatcher(test_lexicon, overlap="all")
    codes = sorted(h.code for h in m.find("我不知道了"))
    assert codes == ["T-STW", "T-STW2"]


def test_unknown_overlap_policy(test_lexicon: Lexicon) -> None:
    with pytest.raises(ValueError, match="longest"):
        PhraseMatcher(test_lexicon, overlap="shortest")  # type: ignore[arg-type]


def test_findings_explain_themselves(matcher: PhraseMatcher) -> None:
    (f,) = matcher.findings("我不 知道", turn=3, role="agent")
    assert (f.code, f.category, f.kind, f.phrase, f.text) == (
        "T-STW", "stonewall", "banned", "不知道", "不 知道")
    assert (f.start, f.end, f.turn, f.role, f.source) == (1, 5, 3, "agent", "lexicon")
    assert f.suggestion == "我马上帮您确认"
    assert f.basis == "prohibit.6"
    assert "T-STW" in f.explanation and "test_lexicon.yaml" in f.explanation
    assert f.to_dict()["code"] == "T-STW"


def test_scan_matches_find(matcher: PhraseMatcher) -> None:
    text = "您好，請稍等，不 知 道"
    assert [(s, e) for s, e, _ in matcher.scan(text)] == [
        (h.start, h.end) for h in matcher.find(text)]


def test_matcher_does_not_use_global_jieba(matcher: PhraseMatcher) -> None:
    import jieba

    matcher.find("知道吗")
    assert matcher.tokenizer._jieba is not jieba.dt  # type: ignore[attr-defined]


# ----------------------------------------------------- automaton insertion order
_ORDER_TEXTS = [c[0] for c in CASES] + [
    "您好请稍等我帮您查一下，感谢您的耐心等待，再见", "你是不是有病啊，没看我正忙着吗",
    "宁好烧等一下啊", "神金病", "这个不归我们管你去找别人", "的了是在我有您"]


def test_insertion_order_changes_no_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys go into the automata most frequent characters first (a speed matter only):
    with no counts, or with every count reversed, the findings are the same."""
    from phrasecheck import matching
    from phrasecheck.lexicon import load_lexicon

    lexicon = load_lexicon()
    shipped = matching.char_counts()
    assert len(shipped) > 1000  # the table ships and loads
    top = max(shipped.values())

    def found(counts: dict[str, int]) -> list[list[tuple[int, int, str]]]:
        monkeypatch.setattr(matching, "char_counts", lambda: counts)
        matching._char_order.cache_clear()
        matching._code_order.cache_clear()
        m = PhraseMatcher(lexicon)
        matching._char_order.cache_clear()
        matching._code_order.cache_clear()
        return [[(f.start, f.end, f.code) for f in m.findings(t, turn=0, role="agent")]
                for t in _ORDER_TEXTS]

    expected = found({})
    assert any(expected)
    assert found(shipped) == expected
    assert found({ch: top - n for ch, n in shipped.items()}) == expected


def test_placeholder_keys_are_never_reported() -> None:
    """The common characters that start no phrase get placeholder keys (the character and
    U+FFFF); text holding exactly that is still clean, in the exact and the sound pass."""
    from phrasecheck import matching
    from phrasecheck.lexicon import load_lexicon

    m = PhraseMatcher(load_lexicon())
    starters = {t.form[0] for t in m._targets if not t.phonetic}
    extra = [ch for ch in sorted(matching.char_counts(), key=matching.char_counts().get,
                                 reverse=True) if ch not in starters][:5]
    assert extra
    greeting = [f.code for f in m.findings("您好", turn=0, role="agent")]
    assert greeting
    for ch in extra:
        assert m.scan(ch + "\uffff") == []
        assert m.findings(ch + "\uffff嗯" + ch + "\uffff", turn=0, role="agent") == []
        assert [f.code for f in m.findings("您好" + ch + "\uffff", turn=0, role="agent")
                ] == greeting


def test_shipped_char_counts_are_current() -> None:
    """lexicons/charfreq.tsv is what tools/build_char_counts.py makes of the corpora."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("build_char_counts",
                                                  root / "tools" / "build_char_counts.py")
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert (root / "lexicons" / "charfreq.tsv").read_text("utf-8") == tool.build(), (
        "lexicons/charfreq.tsv is out of date: run python tools/build_char_counts.py")
