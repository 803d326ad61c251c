"""Hypothesis properties of normalisation and matching: never crash, spans always line up."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phrasecheck.matching import PhraseMatcher
from phrasecheck.normalize import Normalizer

PIECES = ["您好", "請稍等", "不知道", "滚动", "你好烦", "知道了", "再見", " ", "*", "\u200b", "，",
          "Ａ", "ＮＯ", "İ", "ﬁ", "㈱", "\u0301", "😀", "\x00", "\n", "不 知 道", "謝謝"]
texts = st.one_of(
    st.text(),
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=3)), max_size=30).map("".join),
)
NORMALIZERS = [Normalizer(), Normalizer(fold_repeats=True),
               Normalizer(to_simplified=False, strip_noise=False),
               Normalizer(fold_width=False, to_simplified=False)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts, st.sampled_from(NORMALIZERS))
def test_offset_map_covers_folded_text(text: str, norm: Normalizer) -> None:
    nt = norm.normalize(text)
    assert nt.original == text
    if nt.starts is None:  # only one-to-one folding happened (case, t2s)
        assert len(nt.text) == len(text)
        return
    assert len(nt.starts) == len(nt.text) == len(nt.ends)
    prev = 0
    for s, e in zip(nt.starts, nt.ends):
        assert 0 <= s < e <= len(text)
        assert s >= prev  # monotone: folded text keeps the original order
        prev = s


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_findings_point_at_original_text(matcher: PhraseMatcher, text: str) -> None:
    for f in matcher.findings(text):
        assert 0 <= f.start < f.end <= len(text)
        assert text[f.start:f.end] == f.text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts, st.sampled_from(NORMALIZERS))
def test_any_normalizer_keeps_spans_valid(test_lexicon, text: str, norm: Normalizer) -> None:  # type: ignore[no-untyped-def]
    m = _matcher(test_lexicon, norm)
    for h in m.find(text):
        assert 0 <= h.start < h.end <= len(text)


_CACHE: dict[int, PhraseMatcher] = {}


def _matcher(lexicon, norm: Normalizer) -> PhraseMatcher:  # type: ignore[no-untyped-def]
    key = id(norm)
    if key not in _CACHE:
        _CACHE[key] = PhraseMatcher(lexicon, normalizer=norm)
    return _CACHE[key]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="不知道您好请稍等谢再见 *", max_size=40))
def test_analyzer_never_crashes(analyzer, text: str) -> None:  # type: ignore[no-untyped-def]
    for f in analyzer.check_text(text):
        assert text[f.start:f.end] == f.text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts, st.sampled_from(NORMALIZERS))
def test_short_and_long_paths_agree(text: str, norm: Normalizer) -> None:
    """Short texts fold character by character, long ones with numpy: same result."""
    if norm._is_clean(text):
        return
    short, long = norm._normalize_short(text), norm._normalize_long(text)
    assert short.text == long.text
    if short.starts is None or long.starts is None:
        assert short.starts is None and long.starts is None
    else:
        assert list(short.starts) == list(long.starts)
        assert list(short.ends) == list(long.ends)
