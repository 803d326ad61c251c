"""The bundled banned lexicon covers the classic published lists of 服务忌语.

One row per classic phrase (as the list prints it, or as people actually say it: without
punctuation, with a filler or a dialect particle) that must produce a banned finding with
the expected code, and innocent look-alikes that must produce none. The phrases come from
published rules for bank counters, hospitals, government windows, tax halls, police,
courts, telecom shops, hotlines, call centres and schools; the look-alikes are ordinary
replies written for these tests.
"""

from __future__ import annotations

from typing import Any

import pytest


def _banned(analyzer: Any, text: str) -> list[Any]:
    return analyzer.check_text(text, classify=False, kinds=("banned",))


# (text, code that must fire)
MUST_FIRE: list[tuple[str, str]] = [
    # 着什么急，没看我正忙着？ (hospital), 没有看见我忙吗？ (bank counter),
    # 急什么，没看我正忙着吗 (government window), 你没看见我正忙着吗？ (hospital)
    ("没看我正忙着吗？", "RUDE-007"),
    ("着什么急，没看我正忙着？", "RUDE-007"),
    ("没有看见我忙吗？", "RUDE-007"),
    ("你没看见我正忙着吗？", "RUDE-007"),
    ("找空的柜去问，没见我正忙吗？", "RUDE-007"),
    ("哎呀没看我这忙着呢 等会儿", "RUDE-007"),
    ("你看不见我在忙吗", "RUDE-007"),
]

# Ordinary replies that share words with the phrases above and must stay clean.
MUST_NOT_FIRE: list[str] = [
    "不好意思让您久等了，刚才在忙一位老人家的业务，现在马上给您办。",
    "我这边正在帮前面的客户核对，您先坐一下，两分钟就好。",
    "您没看见短信也没关系，我再给您发一遍。",
]


@pytest.mark.parametrize(("text", "code"), MUST_FIRE, ids=[t for t, _ in MUST_FIRE])
def test_classic_phrase_is_banned(analyzer: Any, text: str, code: str) -> None:
    codes = [f.code for f in _banned(analyzer, text)]
    assert code in codes, f"{text!r}: expected {code}, got {codes}"


@pytest.mark.parametrize("text", MUST_NOT_FIRE)
def test_innocent_look_alike_stays_clean(analyzer: Any, text: str) -> None:
    found = [(f.code, f.text) for f in _banned(analyzer, text)]
    assert found == [], f"{text!r}: unexpected {found}"
