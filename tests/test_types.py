"""positional_maker: the fast constructors of the hot paths make exactly what ``cls(...)`` makes."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phrasecheck.complaints import ComplaintVerdict
from phrasecheck.normalize import NormalizedText
from phrasecheck.types import (
    Evidence,
    Finding,
    ReadError,
    RuleResult,
    Turn,
    positional_maker,
)

values = st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5),
                   st.booleans())


@pytest.mark.parametrize("cls", [Finding, Turn, RuleResult, Evidence, NormalizedText,
                                 ComplaintVerdict])
@given(data=st.data())
def test_maker_makes_what_the_class_makes(cls: type, data: st.DataObject) -> None:
    n = len(dataclasses.fields(cls))
    args: list[Any] = data.draw(st.lists(values, min_size=n, max_size=n))
    made, expected = positional_maker(cls)(*args), cls(*args)
    assert type(made) is cls
    assert made == expected
    assert repr(made) == repr(expected)
    assert hash(made) == hash(expected)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.__setattr__(dataclasses.fields(cls)[0].name, 1)


@pytest.mark.parametrize("cls", [Finding, Turn])
def test_maker_takes_every_field(cls: type) -> None:
    n = len(dataclasses.fields(cls))
    with pytest.raises(TypeError):
        positional_maker(cls)(*([None] * (n - 1)))  # no defaults: every field, in order


def test_maker_refuses_classes_it_would_change() -> None:
    # ReadError checks its fields in __post_init__, which the maker would skip
    with pytest.raises(TypeError, match="__post_init__"):
        positional_maker(ReadError)

    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    with pytest.raises(TypeError, match="slotted"):
        positional_maker(NoSlots)
