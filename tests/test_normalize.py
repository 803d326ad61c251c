from __future__ import annotations

import pytest

from phrasecheck.normalize import Normalizer

N = Normalizer()

CASES = [
    ("您好", "您好"),
    ("ＡＢＣ１２３", "abc123"),
    ("Hello", "hello"),
    ("請稍等", "请稍等"),
    ("謝謝您的耐心等待", "谢谢您的耐心等待"),
    ("不 知 道", "不知道"),
    ("不*知*道", "不知道"),
    ("不\u200b知道", "不知道"),
    ("hello world", "hello world"),  # spaces between Latin words stay
    ("您好，请问", "您好，请问"),  # clause punctuation stays as written
    ("不，知道了", "不，知道了"),
    ("不＊知＊道", "不知道"),  # full-width decoration is noise
    ("ＮＯ，好", "no，好"),
    ("A-B", "a-b"),
]


@pytest.mark.parametrize(("text", "folded"), CASES)
def test_fold(text: str, folded: str) -> None:
    assert N.normalize(text).text == folded


def test_clean_text_is_identity() -> None:
    nt = N.normalize("您好，请问有什么可以帮您？")
    assert nt.is_identity and nt.starts is None


def test_span_to_original() -> None:
    nt = N.normalize("不 * 知道")
    assert nt.text == "不知道"
    assert nt.span_to_original(0, 3) == (0, 6)
    assert nt.span_to_original(1, 3) == (4, 6)


def test_repeat_folding_is_optional() -> None:
    assert Normalizer().normalize("滚滚滚").text == "滚滚滚"
    nt = Normalizer(fold_repeats=True).normalize("你滚滚滚吧")
    assert nt.text == "你滚吧"
    assert nt.span_to_original(1, 2) == (1, 4)


def test_expanding_characters_map_back() -> None:
    nt = N.normalize("㈱您好")  # NFKC expands ㈱ to (株)
    assert "您好" in nt.text
    i = nt.text.index("您好")
    assert nt.span_to_original(i, i + 2) == (1, 3)


def test_options_can_be_switched_off() -> None:
    raw = Normalizer(fold_width=False, fold_case=False, to_simplified=False, strip_noise=False)
    assert raw.normalize("ＡB 請").text == "ＡB 請"


def test_type_error() -> None:
    with pytest.raises(TypeError, match="expected str"):
        N.normalize(b"abc")  # type: ignore[arg-type]
