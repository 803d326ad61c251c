"""Phonetic matching (src/phrasecheck/phonetic.py and the matcher's second automaton).

ASR errors (宁好, 烧等, 头诉, 不知到, 耐新) and spellings that dodge filters (神金病, 有bing,
弱zhi, gun) meet their lexicon phrase with a lower confidence; innocent homophones that are
words of their own (在建 for 再见, 沙子 for 傻子) or too short to trust (又病 for 有病) stay clean.
"""

from __future__ import annotations

import functools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phrasecheck import Analyzer
from phrasecheck.matching import PHONETIC_SCORE
from phrasecheck.phonetic import Encoded, SoundCoder, sound_coder


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer(model=None, complaint_model=None)


@functools.cache
def _shared_analyzer() -> Analyzer:  # for hypothesis tests (no function-scoped fixtures)
    return Analyzer(model=None, complaint_model=None)

KINDS = ("required", "banned", "cue")


@pytest.mark.parametrize(("text", "role", "code", "surface"), [
    ("宁好 这里是社保中心", "agent", "GRT", "宁好"),
    ("请烧等 我帮您查一下", "agent", "WAIT-001", "请烧等"),
    ("感谢您的耐新等待", "agent", "WTHX-001", "感谢您的耐新等待"),
    ("好的 在见", "agent", "CLS-001", "在见"),
    ("这个我也不知到啊", "agent", "STW-001", "不知到"),
    ("你这个深经病", "agent", "PRF-003", "深经病"),
    ("你有bing吧", "agent", "PRF-004", "有bing吧"),
    ("弱zhi", "agent", "PRF-010", "弱zhi"),
    ("我要打幺二三四五头诉你们", "customer", "CMP-002", "头诉你们"),
    ("请 嗯 稍等", "agent", "WAIT-001", "请 嗯 稍等"),
    # a pause is a boundary although folding drops it (jieba reads 四烧 as one word)
    ("好的 幺八六五五零二三七幺四 烧等一下 我这边看看", "agent", "WAIT-001", "烧等一下"),
    ("好的 四 烧等一下", "agent", "WAIT-001", "烧等一下"),
])
def test_sounds_alike_are_found(analyzer: Analyzer, text: str, role: str, code: str,
                                surface: str) -> None:
    found = analyzer.check_text(text, role, kinds=KINDS, classify=False)
    hit = [f for f in found if f.code.startswith(code)]
    assert hit, found
    assert hit[0].text == surface and text[hit[0].start:hit[0].end] == surface
    assert hit[0].score == PHONETIC_SCORE and "sounds like" in hit[0].explanation


@pytest.mark.parametrize("text", [
    "在建工程的手续在二楼办",   # 在建 is a word (再见)
    "沙子水泥都要自己买",       # 沙子 (傻子)
    "他又病了，请假一天",       # 又病: two syllables, too short to trust for a banned word
    "滚动条拉到底就能看到",     # exact-form allow-lists still hold
    "您好，请稍等",            # written as the form: an exact hit, not a phonetic one
])
def test_innocent_homophones_stay_clean(analyzer: Analyzer, text: str) -> None:
    found = analyzer.check_text(text, kinds=KINDS, classify=False)
    assert not [f for f in found if f.score < 1.0], found


def test_digits_and_spoken_digits_sound_alike() -> None:
    coder = sound_coder()
    assert coder.encode_phrase("12345") == coder.encode_phrase("幺二三四五")
    assert coder.encode_phrase("您好") == coder.encode_phrase("宁好")


def test_latin_spans_map_back_to_the_text() -> None:
    enc = sound_coder().encode("你有bing吧")
    assert enc.spans is not None and enc.latin is not None
    assert len(enc.codes) == 4  # 你 有 bing 吧
    assert enc.spans[2] == (2, 6) and enc.latin[2]


def test_shipped_pinyin_table_is_pypinyins() -> None:
    """lexicons/pinyin.tsv is what tools/build_pinyin_table.py makes from pypinyin."""
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("pypinyin")
    tool = Path(__file__).resolve().parent.parent / "tools" / "build_pinyin_table.py"
    out = subprocess.run([sys.executable, str(tool), "--check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


# --------------------------------------------------------------- batch encoding
_TEXTS = st.text(alphabet=st.one_of(
    st.sampled_from(list("您好宁烧等头诉不知到耐新神金病有bing幺二三四五两〇嗯呃，。 \n")),
    st.characters(min_codepoint=0x20, max_codepoint=0x2FFFF)), max_size=30)


@settings(max_examples=200, deadline=None)
@given(st.lists(_TEXTS, max_size=40))
def test_codes_many_is_translate_of_each_text(texts: list[str]) -> None:
    coder = sound_coder()
    assert coder.codes_many(texts) == [t.translate(coder._table) for t in texts]


def test_codes_many_keeps_lone_surrogates_and_astral_characters() -> None:
    coder = sound_coder()
    texts = ["您好\ud83d", "😀宁好", *["请稍等"] * 10]
    assert coder.codes_many(texts) == [t.translate(coder._table) for t in texts]



def _encode_char_by_char(coder: SoundCoder, text: str) -> Encoded:
    """The first implementation of :meth:`SoundCoder.encode`'s slow path, one character a
    step: the reference the run-by-run version must equal."""
    codes = text.translate(coder._table)
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    latin: list[bool] = []
    runs: list[int] = []
    latin_at: dict[int, tuple[int, list[str]]] = {}
    for m in re.finditer("[a-z]+", text):
        parts = coder._split_latin(m.group())
        if parts is not None:
            latin_at[m.start()] = (m.end(), parts)
    i, n, run = 0, len(text), 0
    while i < n:
        got = latin_at.get(i)
        if got is not None:
            end, parts = got
            run += 1
            step = (end - i) / len(parts)
            for k, c in enumerate(parts):
                a = i + round(k * step)
                b = end if k == len(parts) - 1 else i + round((k + 1) * step)
                out.append(c)
                spans.append((a, b))
                latin.append(True)
                runs.append(run)
            i = end
            continue
        if text[i] in "嗯呃" and 0 < i < n - 1:
            i += 1
            continue
        out.append(codes[i])
        spans.append((i, i + 1))
        latin.append(False)
        runs.append(0)
        i += 1
    return Encoded("".join(out), spans, latin, runs)


# pieces the slow path takes apart (letter runs that spell syllables or not, fillers at
# the edges and inside) and plain characters around them
_SLOW_TEXTS = st.lists(st.one_of(
    st.sampled_from(["嗯", "呃", "嗯嗯", "bing", "zhi", "gun", "nmd", "sb", "ok", "xq",
                     "qwrt", "a", "您好", "宁", "烧等", "有", "弱", "，", " ", "1", "😀"]),
    st.characters(min_codepoint=0x20, max_codepoint=0x2FFF)), max_size=12).map("".join)


@settings(max_examples=300, deadline=None)
@given(_SLOW_TEXTS)
def test_encode_equals_the_character_by_character_reference(text: str) -> None:
    coder = sound_coder()
    enc = coder.encode(text)
    assert coder.encode_parts(text) == (enc.codes, enc.spans, enc.latin, enc.runs)
    if re.search("[a-z嗯呃]", text) is None:
        assert enc.spans is None and enc.codes == text.translate(coder._table)
        text += "嗯"
    assert coder.encode(text) == _encode_char_by_char(coder, text)


@settings(max_examples=100, deadline=None)
@given(st.lists(_TEXTS, max_size=20), st.sampled_from(["agent", "customer"]))
def test_findings_many_equals_findings_one_by_one(texts: list[str], role: str) -> None:
    m = _shared_analyzer().matcher(role)
    turns = list(range(len(texts)))
    assert m.findings_many(texts, turns, role=role) == [
        m.findings(t, turn=i, role=role) for i, t in enumerate(texts)]
