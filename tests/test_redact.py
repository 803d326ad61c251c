"""PII detection and masking: tables of valid and invalid examples, plus properties."""

from __future__ import annotations

import datetime
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phrasecheck.reports.redact import (
    PII_KINDS,
    find_pii,
    id_card_valid,
    luhn_valid,
    mask_span,
    redact,
)

# (text, expected spans as (substring, kind))  -- every substring is unique in its text
DETECT = [
    # mobile
    ("13812345678", [("13812345678", "mobile")]),
    ("电话13812345678，谢谢", [("13812345678", "mobile")]),
    ("请拨 138-1234-5678 找我", [("138-1234-5678", "mobile")]),
    ("请拨 138 1234 5678", [("138 1234 5678", "mobile")]),
    ("+86 13912345678", [("+86 13912345678", "mobile")]),
    ("+8613912345678", [("+8613912345678", "mobile")]),
    ("0086-199 1234 5678", [("0086-199 1234 5678", "mobile")]),
    ("全角１３８１２３４５６７８号", [("１３８１２３４５６７８", "mobile")]),
    ("12812345678", []),  # 12x is not a mobile prefix
    ("1381234567", []),  # 10 digits
    ("订单号 2013812345678901", []),  # inside a longer digit run
    ("138123456789", []),  # 12 digits
    ("编号A13812345678B", [("13812345678", "mobile")]),  # letters are not digits
    # landline
    ("0571-88886666", [("0571-88886666", "landline")]),
    ("(0571)88886666", [("(0571)88886666", "landline")]),
    ("（0571）8888666", [("（0571）8888666", "landline")]),
    ("010-62345678", [("010-62345678", "landline")]),
    ("021 62345678", [("021 62345678", "landline")]),
    ("075588886666", [("075588886666", "landline")]),
    ("010-12345678", []),  # local numbers do not start with 1
    ("0571-888866661", []),  # 9-digit local part
    ("12345", []),
    # resident ID
    ("身份证11010519491231002X。", [("11010519491231002X", "id_card")]),
    ("110105199003071239", [("110105199003071239", "id_card")]),
    ("身份证号 440304198512120023 已核对", [("440304198512120023", "id_card")]),
    ("11010519491231002x", [("11010519491231002x", "id_card")]),
    ("320106200002290035", [("320106200002290035", "id_card")]),  # 29 Feb 2000
    ("110105199003071238", []),  # wrong check digit
    ("110105199002301236", []),  # 30 Feb
    ("110105185003071233", []),  # born 1850
    ("1110105199003071239", []),  # 19 digits: not an ID inside a longer run
    # bank card (Luhn)
    ("卡号6222021234567890128", [("6222021234567890128", "bank_card")]),
    ("6217001234567893", [("6217001234567893", "bank_card")]),
    ("6228 4800 1234 5671", [("6228 4800 1234 5671", "bank_card")]),
    ("6222 0212 3456 7890 128", [("6222 0212 3456 7890 128", "bank_card")]),
    ("4111-1111-1111-1111", [("4111-1111-1111-1111", "bank_card")]),
    ("6217001234567890", []),  # fails Luhn
    ("621700123456789", []),  # 15 digits
    ("62170012345678930000000", []),  # 23-digit run
    # e-mail
    ("邮箱li.lei@example.com谢谢", [("li.lei@example.com", "email")]),
    ("write to a_b+c@mail.gov.cn.", [("a_b+c@mail.gov.cn", "email")]),
    ("not an email: a@b", []),
    ("@example.com", []),
    ("a@b.cn@c.cn", []),  # not one address
    # several
    ("手机13812345678，邮箱x@y.cn，身份证110105199003071239",
     [("13812345678", "mobile"), ("x@y.cn", "email"), ("110105199003071239", "id_card")]),
    ("", []),
    ("您好，请问有什么可以帮您？", []),
]


@pytest.mark.parametrize(("text", "expected"), DETECT)
def test_find_pii_table(text: str, expected: list[tuple[str, str]]) -> None:
    want = sorted((text.index(sub), text.index(sub) + len(sub), kind) for sub, kind in expected)
    assert find_pii(text) == want


MASK = [
    ("13812345678", "138****5678"),
    ("138-1234-5678", "138-****-5678"),
    ("+86 138 1234 5678", "+86 138 **** 5678"),
    ("0571-88886666", "0571-******66"),
    ("(0571)88886666", "(0571)******66"),
    ("11010519491231002X", "110105********002X"),
    ("6222021234567890128", "622202*********0128"),
    ("6228 4800 1234 5671", "6228 48** **** 5671"),
    ("li.lei@example.com", "l*****@example.com"),
]


@pytest.mark.parametrize(("text", "masked"), MASK)
def test_redact_masks(text: str, masked: str) -> None:
    assert redact(text) == masked
    assert len(redact(text)) == len(text)


def test_redact_in_context_keeps_offsets() -> None:
    text = "客户：我的电话是13812345678，您好，请稍等"
    out = redact(text)
    assert out == "客户：我的电话是138****5678，您好，请稍等"
    i = text.index("请稍等")
    assert out[i:i + 3] == "请稍等"


def test_redact_with_given_spans() -> None:
    assert redact("abcdef", [(1, 3, "unknown")]) == "a**def"
    assert redact("abc", [(2, 10, "email"), (5, 1, "mobile")]) == "ab*"
    assert redact("13812345678", []) == "13812345678"


def test_mask_span_unknown_kind() -> None:
    assert mask_span("secret", "other") == "******"


def test_validators() -> None:
    assert id_card_valid("11010519491231002X")
    assert not id_card_valid("11010519491231002")
    assert not id_card_valid("010105194912310021")  # region cannot start with 0
    assert id_card_valid("110105202001010016", today=datetime.date(2021, 1, 1)) is (
        id_card_valid("110105202001010016"))
    assert not id_card_valid("110105203001010011", today=datetime.date(2026, 1, 1))  # future
    assert luhn_valid("4111 1111 1111 1111")
    assert not luhn_valid("4111 1111 1111 1112")
    assert not luhn_valid("")


def test_kinds_constant() -> None:
    assert set(PII_KINDS) == {"mobile", "landline", "id_card", "bank_card", "email"}


def test_long_digit_runs_are_linear() -> None:
    text = "9" * 200_000 + " 13812345678 " + "8" * 200_000
    assert find_pii(text) == [(200_001, 200_012, "mobile")]


# ------------------------------------------------------------------------------ properties

_NON_PII = st.text(alphabet=st.characters(
    blacklist_categories=("Nd", "Cs"), blacklist_characters="@"), max_size=200)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_redact_keeps_length(text: str) -> None:
    out = redact(text)
    assert len(out) == len(text)
    for start, end, kind in find_pii(text):
        assert 0 <= start < end <= len(text)
        assert kind in PII_KINDS
    # only masked characters change
    assert all(a == b or b == "*" for a, b in zip(text, out, strict=True))


@settings(max_examples=300, deadline=None)
@given(_NON_PII)
def test_text_without_digits_or_at_is_unchanged(text: str) -> None:
    assert find_pii(text) == []
    assert redact(text) == text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(
    ["您好", "请稍等", "13812345678", "订单 2024", "x@y.cn", "li.lei@example.com",
     "0571-88886666", "110105199003071239", "6228 4800 1234 5671", "-", "9"]), max_size=12),
    st.sampled_from(["，", " ", "。", "：", "\n"]))
def test_spans_are_sorted_disjoint_and_masking_is_idempotent(parts: list[str], sep: str) -> None:
    # parts separated as in real messages; glued-together numbers are a different text
    text = sep.join(parts)
    spans = find_pii(text)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    once = redact(text)
    assert redact(once) == once


def test_card_followed_by_another_number_group_is_masked() -> None:
    """Found by the idempotence property: the first reading (card + trailing group) fails the
    Luhn check, the card alone passes, and must be masked on the first pass."""
    text = "6228 4800 1234 5671 6228 4800 1234 5671 9"
    once = redact(text)
    assert once == "6228 48** **** 5671 6228 48** **** 5671 9"
    assert redact(once) == once
