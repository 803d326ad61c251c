"""Bad input to the analyzer: a clear TypeError or a correct result, never a hang."""

from __future__ import annotations

import time

import pytest


@pytest.mark.parametrize("bad", [None, b"\xe6\x82\xa8\xe5\xa5\xbd", 123, ["您好"]])
def test_non_str_is_a_type_error(analyzer, bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError, match="str"):
        analyzer.check_text(bad)


def test_five_megabytes_without_newline(analyzer) -> None:  # type: ignore[no-untyped-def]
    text = ("您好请问不知道滚动条" + "的" * 90) * 50_000  # 5,000,000 characters
    assert len(text) == 5_000_000
    t = time.perf_counter()
    findings = analyzer.check_text(text, classify=False)
    assert time.perf_counter() - t < 60
    greetings = [f for f in findings if f.category == "greeting"]
    assert len(greetings) == 50_000
    assert all(text[f.start:f.end] == f.text for f in findings[:1000])


def test_five_megabytes_of_noise(analyzer) -> None:  # type: ignore[no-untyped-def]
    text = "请 稍 等 " * 625_000  # 5 MB, noise everywhere: the slow (mapped) path
    findings = analyzer.check_text(text, classify=False)
    assert findings and all(text[f.start:f.end] == f.text for f in findings[:100])


@pytest.mark.parametrize("text", ["\x00\x01\x02您好\x7f", "您好\x1b[31m",
                                  "\r\n\t您好\r\n", "您" * 3 + "\u0000" + "好"])
def test_control_characters(analyzer, text: str) -> None:  # type: ignore[no-untyped-def]
    for f in analyzer.check_text(text):
        assert text[f.start:f.end] == f.text


def test_lone_surrogates_do_not_crash(analyzer) -> None:  # type: ignore[no-untyped-def]
    text = "您好\ud800请稍等"
    got = [f.text for f in analyzer.check_text(text, classify=False)]
    assert "您好" in got
