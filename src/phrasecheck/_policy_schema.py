"""The schema of policy files, in pydantic, and its errors as ``file:line`` issues.

Why pydantic: it ships with typer's ecosystem and is installed anyway, its strict mode
refuses what YAML makes too easily (``disable: greeting`` for a list, ``soon`` for a
number, ``.nan`` and ``.inf`` for points), it reports every error of a document at once with
its location (which maps back to a YAML line), and a discriminated union on ``kind`` gives
each rule kind its own fields with a clear message for an unknown kind. msgspec is faster
but stops at the first error, and a QA lead fixing a policy wants them all.

Only user files are validated here: the presets are validated by the test suite, so
loading a preset never imports pydantic (it would cost a cold start a fifth of a second).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from ._yaml import Located
from .errors import ConfigIssue

__all__ = ["check_document", "check_rule"]

Finite = Annotated[float, Field(allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Role = Literal["agent", "customer", "system", "unknown", "any"]
Categories = Annotated[list[StrictStr], Field(min_length=1)]
Severity = Literal["info", "minor", "major", "critical"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Grade(_Strict):
    name: StrictStr
    min: Finite


class _Settings(_Strict):
    hold_gap_seconds: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    # an unannounced silence this long is a hold (null: never)
    silent_hold_seconds: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    # an agent turn the hold-announcement model scores at least this is an announcement
    # (a hold once the agent comes back); null: lexicon cues and patterns only
    hold_model_threshold: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None
    # the share of each tone label expected in real traffic (the tone model's deployment
    # prior), e.g. {ok: 0.97, rude: 0.01, evasive: 0.02}
    tone_prior: dict[Literal["ok", "rude", "evasive", "deflect", "stonewall"],
                     Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]] | None = None


class _Document(_Strict):
    """One policy file (rules are checked once merged with what they override)."""

    version: Literal[1] = 1
    name: StrictStr | None = None
    title: StrictStr | None = None
    description: StrictStr | None = None
    extends: StrictStr | None = None
    start: Finite | None = None
    floor: Finite | None = None
    veto_score: Finite | None = None
    grades: Annotated[list[_Grade], Field(min_length=1)] | None = None
    settings: _Settings | None = None
    disable: list[StrictStr] | None = None
    rules: list[dict[StrictStr, Any]] | None = None


class _Require(_Strict):
    kind: Literal["require"]
    categories: Categories
    role: Role | None = None
    scope: Any = "anywhere"

    @field_validator("scope", mode="before")
    @classmethod
    def _scope(cls, v: Any) -> Any:
        # one message for the three shapes (a union would report each branch)
        if v == "anywhere" or (isinstance(v, dict) and len(v) == 1 and next(iter(v)) in (
                "first", "last") and type(next(iter(v.values()))) is int
                and next(iter(v.values())) > 0):
            return v
        raise ValueError("must be anywhere, {first: N} or {last: N} with N >= 1")


class _Forbid(_Strict):
    kind: Literal["forbid"]
    categories: Categories
    role: Role | None = None
    severity_weights: dict[Severity, NonNegative] | None = None


class _Classifier(_Strict):
    kind: Literal["classifier"]
    label: Literal["rude", "evasive", "ok"]
    threshold: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.5
    role: Role | None = None


class _Trigger(_Strict):
    categories: Categories | None = None
    role: Role | None = None
    event: Literal["hold", "complaint"] | None = None
    # the complaint detector's probability at which a customer turn is a complaint
    threshold: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> _Trigger:
        if (self.categories is None) == (self.event is None):
            raise ValueError("needs either 'categories' or 'event: hold|complaint'")
        if self.threshold is not None and self.event is None:
            raise ValueError("'threshold' goes with 'event: complaint' or 'event: hold'")
        return self


class _Expect(_Strict):
    categories: Categories
    role: Role | None = None
    window: Literal["after", "before"] = "after"
    within: Annotated[StrictInt, Field(ge=1)] = 1


class _Context(_Strict):
    kind: Literal["context"]
    trigger: _Trigger
    expect: _Expect


class _Compound(_Strict):
    kind: Literal["all", "any", "none"]
    conditions: Annotated[list[_Condition], Field(min_length=1)]


_Condition = Annotated[Union[_Require, _Forbid, _Classifier, _Context, _Compound],  # noqa: UP007
                       Field(discriminator="kind")]
_Compound.model_rebuild()


class _Common(_Strict):
    id: StrictStr
    title: StrictStr | None = None
    basis: StrictStr | None = None
    deduction: NonNegative = 0
    per: Literal["occurrence", "conversation"] | None = None
    cap: NonNegative | None = None
    veto: StrictBool = False
    description: StrictStr | None = None
    enabled: StrictBool = True


class _RequireRule(_Common, _Require):
    pass


class _ForbidRule(_Common, _Forbid):
    pass


class _ClassifierRule(_Common, _Classifier):
    pass


class _ContextRule(_Common, _Context):
    pass


class _CompoundRule(_Common, _Compound):
    pass


_RULE: TypeAdapter[Any] = TypeAdapter(Annotated[
    Union[_RequireRule, _ForbidRule, _ClassifierRule, _ContextRule, _CompoundRule],  # noqa: UP007
    Field(discriminator="kind")])
_TAGS = {"require", "forbid", "classifier", "context", "all", "any", "none"}


def check_document(doc: Located, plain: Mapping[str, Any], path: str) -> list[ConfigIssue]:
    """Issues of one policy file's top level (its rules: see :func:`check_rule`)."""
    try:
        _Document.model_validate(plain)
    except ValidationError as exc:
        return _issues(exc, doc, path, "")
    return []


def check_rule(item: Located, plain: Mapping[str, Any], path: str) -> list[ConfigIssue]:
    """Issues of one rule, as merged over the rule it overrides."""
    try:
        _RULE.validate_python(plain)
    except ValidationError as exc:
        return _issues(exc, item, path, f"rule {plain.get('id')!r}: ")
    return []


def _issues(exc: ValidationError, root: Located, path: str, prefix: str) -> list[ConfigIssue]:
    out = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if not (isinstance(p, str) and (
            p in _TAGS or "[" in p or p.startswith(("function-", "_"))))]
        if not loc and err["type"].startswith("union_tag"):
            loc = ["kind"]
        where = _dotted(loc)
        msg = err["msg"]
        value = err.get("input")
        if err["type"] not in ("missing", "extra_forbidden") and _shown(value):
            msg += f", got {value!r}"
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        out.append(ConfigIssue(path, _line(root, loc), f"{prefix}{where or 'file'}: {msg}"))
    return sorted(out, key=lambda i: i.line or 0)


def _shown(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | type(None)) and len(repr(value)) <= 80


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _line(root: Located, loc: Sequence[str | int]) -> int | None:
    """The YAML line of the deepest part of ``loc`` that exists in the document."""
    node: Any = root
    line: int | None = root.line or None
    for part in loc:
        if isinstance(node, Located) and isinstance(part, str) and part in node.value:
            line = node.key_lines.get(part, line) or line
            node = node.value[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            if isinstance(node, Located) and node.line:
                line = node.line
        else:
            break
    return line
