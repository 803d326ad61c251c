"""Result and input types: frozen, slotted dataclasses shared by every stage.

Offsets are half-open ``[start, end)`` character indexes into the ORIGINAL text of a turn
(never into normalised text), so ``turn.text[f.start:f.end] == f.text`` always holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypeVar

Role = Literal["agent", "customer", "system", "unknown"]
ROLES: tuple[str, ...] = ("agent", "customer", "system", "unknown")

Kind = Literal["required", "banned", "cue"]
KINDS: tuple[str, ...] = ("required", "banned", "cue")

Severity = Literal["info", "minor", "major", "critical"]
SEVERITIES: tuple[str, ...] = ("info", "minor", "major", "critical")

Source = Literal["lexicon", "classifier", "rule"]


@dataclass(frozen=True, slots=True)
class Turn:
    """One utterance or chat message.

    ``start``/``end`` are times in seconds from the start of the conversation when known.
    ``speaker`` keeps the label the transcript used (``说话人1``, ``SPEAKER_00``, ``坐席``).
    ``line`` is the 1-based line (or row) of the source file the turn starts on, if any.
    """

    index: int
    role: str
    text: str
    start: float | None = None
    end: float | None = None
    speaker: str | None = None
    line: int | None = None

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # pickled as its fields in order: several times faster to pickle and unpickle than
        # the default for a frozen slotted dataclass (batch workers receive every turn)
        return (Turn, (self.index, self.role, self.text, self.start, self.end, self.speaker,
                       self.line))


@dataclass(frozen=True, slots=True)
class Conversation:
    """A conversation: an id, its turns in order and free-form metadata.

    Metadata carries what readers know (``source`` path, ``agent_id``, ``domain``,
    ``channel``) and what they inferred (``role_inference``).
    """

    id: str
    turns: tuple[Turn, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (Conversation, (self.id, self.turns, self.metadata))

    @property
    def agent_turns(self) -> tuple[Turn, ...]:
        return tuple(t for t in self.turns if t.role == "agent")


@dataclass(frozen=True, slots=True)
class Finding:
    """Something phrasecheck found in one turn, explained.

    ``phrase`` is the canonical lexicon phrase; ``text`` is what the person actually wrote,
    ``text == turn_text[start:end]``. ``source`` says which detector produced it;
    ``score`` is its confidence (1.0 for lexicon hits, 0.8 for a phonetic match, a
    probability for the classifier). ``subcategory`` says which kind of a tone label the
    classifier saw (``deflect`` 推诿 / ``stonewall`` 搪塞 for evasive, ``rude``).
    """

    code: str
    category: str
    kind: str
    phrase: str
    text: str
    start: int
    end: int
    turn: int | None = None
    severity: str = "info"
    source: str = "lexicon"
    score: float = 1.0
    suggestion: str | None = None
    basis: str | None = None
    explanation: str = ""
    role: str | None = None
    subcategory: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _flat(self)


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why a rule passed or failed.

    Either a span in a turn (``turn``, ``start``, ``end``, ``text``) or, for something that
    was expected but missing, the ``window`` of turn indexes ``[first, last)`` that was searched.
    """

    note: str
    turn: int | None = None
    start: int | None = None
    end: int | None = None
    text: str | None = None
    window: tuple[int, int] | None = None
    code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _flat(self)


@dataclass(frozen=True, slots=True)
class RuleResult:
    """The outcome of one policy rule on one conversation.

    ``passed`` is ``None`` when the rule did not apply (e.g. no complaint, so no apology
    was needed).
    """

    rule_id: str
    passed: bool | None
    deduction: float
    evidence: tuple[Evidence, ...] = ()
    title: str = ""
    basis: str | None = None
    veto: bool = False
    message: str = ""

    @property
    def applicable(self) -> bool:
        return self.passed is not None

    @property
    def outcome(self) -> str:
        """``pass``, ``fail`` or ``na``."""
        if self.passed is None:
            return "na"
        return "pass" if self.passed else "fail"

    def to_dict(self) -> dict[str, Any]:
        d = _flat(self)
        d["evidence"] = [_flat(e) for e in self.evidence]
        return d


@dataclass(frozen=True, slots=True)
class ConversationScore:
    """The score of one conversation under one policy, with all its evidence."""

    id: str
    score: float
    grade: str
    vetoed: bool
    rule_results: tuple[RuleResult, ...]
    findings: tuple[Finding, ...]
    policy: str = "default"
    metadata: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def rule(self, rule_id: str) -> RuleResult:
        for r in self.rule_results:
            if r.rule_id == rule_id:
                return r
        known = ", ".join(r.rule_id for r in self.rule_results)
        raise KeyError(f"no rule {rule_id!r} in this score (rules: {known})")

    def to_dict(self) -> dict[str, Any]:
        d = _flat(self)
        d["rule_results"] = [r.to_dict() for r in self.rule_results]
        d["findings"] = [_flat(f) for f in self.findings]
        d["metadata"] = dict(self.metadata)
        return d


TONE_SUGGESTIONS: Mapping[str, str] = {
    "rude": "请换成平和、尊重的说法，耐心解释原因，例如：“请您别着急，我再为您详细说明一下。”",
    "evasive": "请给出明确答复（一次告知）：由谁办理、在哪里办、需要哪些材料、多久办结；"
               "不归本岗位的，告知具体部门和联系方式。",
    # by sub-category of an evasive reply
    "deflect": "请落实首问负责制：能办的当场办；确实不归本岗位的，帮对方联系或转接到具体部门，"
               "告知地址、电话、办理时间和所需材料，并跟进办理结果。",
    "stonewall": "请给出明确答复（一次告知）：能不能办、怎么办、需要哪些材料、多久办结、"
                 "结果怎么通知；一时答不了的，说明原因并约定回复时间。",
}


@dataclass(frozen=True, slots=True)
class ToneResult:
    """The reply-tone classifier's verdict on one text.

    ``label`` (``ok`` / ``rude`` / ``evasive``) is the most probable label and
    ``probabilities`` are those of the three labels, both at the model's deployment prior:
    the share of rude and evasive replies expected in real traffic (a small one), not the
    training corpus's mix (:meth:`phrasecheck.classify.ToneModel.with_prior`).
    ``balanced_label`` is the arg-max under the training corpus's mix, as earlier versions
    reported it. ``subcategory`` tells apart the kinds of a non-ok label: ``deflect``
    (推诿, the question pushed elsewhere — 首问负责制) or ``stonewall`` (搪塞, nothing to go on)
    for ``evasive``, ``rude`` for ``rude``; ``sub_probabilities`` has the model's classes.
    ``features`` lists the features that pushed most towards the label (its sub-category),
    with their contributions, as the explanation.
    """

    label: str
    probabilities: Mapping[str, float]
    features: tuple[tuple[str, float], ...] = ()
    subcategory: str | None = None
    sub_probabilities: Mapping[str, float] = field(default_factory=dict, hash=False)
    balanced_label: str | None = None

    @property
    def score(self) -> float:
        return float(self.probabilities.get(self.label, 0.0))

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "probabilities": dict(self.probabilities),
                "features": [list(f) for f in self.features], "subcategory": self.subcategory,
                "sub_probabilities": dict(self.sub_probabilities),
                "balanced_label": self.balanced_label}


@dataclass(frozen=True, slots=True)
class ReadError:
    """A file, line or record that could not be read, and why. Never fatal for a batch."""

    path: str
    line: int | None
    reason: str
    conversation_id: str | None = None

    def __post_init__(self) -> None:
        # errors name what could not be read, so they may quote bad text: keep them
        # writable (a file name that is not UTF-8, half an emoji in an id)
        from ._unicode import LONE_SURROGATE, display_path, scrub

        if LONE_SURROGATE.search(self.path):
            object.__setattr__(self, "path", display_path(self.path))
        if LONE_SURROGATE.search(self.reason):
            object.__setattr__(self, "reason", scrub(self.reason))
        cid = self.conversation_id
        if cid is not None and LONE_SURROGATE.search(cid):
            object.__setattr__(self, "conversation_id", scrub(cid))

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}: line {self.line}"
        return f"{where}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return _flat(self)


# ---------------------------------------------------------------------- (de)serialisation
# Plain-dict round trips, used to stream results to disk and back (batch runs, workers).


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _flat(obj: Any) -> dict[str, Any]:
    """Fields of a dataclass as a dict, one level deep (no deep copy, unlike ``asdict``)."""
    names = _FIELD_NAMES.get(type(obj))
    if names is None:
        names = _FIELD_NAMES[type(obj)] = tuple(f.name for f in fields(obj))
    return {n: getattr(obj, n) for n in names}


def turn_from_dict(d: Mapping[str, Any]) -> Turn:
    return Turn(index=int(d["index"]), role=str(d["role"]), text=str(d["text"]),
                start=d.get("start"), end=d.get("end"), speaker=d.get("speaker"),
                line=d.get("line"))


def conversation_to_dict(c: Conversation) -> dict[str, Any]:
    return {"id": c.id, "turns": [_flat(t) for t in c.turns], "metadata": dict(c.metadata)}


def conversation_from_dict(d: Mapping[str, Any]) -> Conversation:
    return Conversation(id=str(d["id"]), turns=tuple(turn_from_dict(t) for t in d["turns"]),
                        metadata=dict(d.get("metadata") or {}))


def score_from_dict(d: Mapping[str, Any]) -> ConversationScore:
    def evidence(e: Mapping[str, Any]) -> Evidence:
        w = e.get("window")
        return Evidence(**{**e, "window": None if w is None else (int(w[0]), int(w[1]))})

    return ConversationScore(
        id=str(d["id"]), score=float(d["score"]), grade=str(d["grade"]),
        vetoed=bool(d["vetoed"]),
        rule_results=tuple(
            RuleResult(**{**r, "evidence": tuple(evidence(e) for e in r["evidence"])})
            for r in d["rule_results"]),
        findings=tuple(Finding(**f) for f in d["findings"]),
        policy=str(d.get("policy", "default")), metadata=dict(d.get("metadata") or {}))


_T = TypeVar("_T")


def positional_maker(cls: type[_T]) -> Callable[..., _T]:
    """A constructor taking every field of the frozen, slotted dataclass ``cls`` positionally,
    in order, and giving the object ``cls(*args)`` gives.

    A frozen dataclass's ``__init__`` sets each field with ``object.__setattr__`` (its own
    ``__setattr__`` refuses): a name lookup on the type per field, about 0.1 µs each. This one
    calls each slot's descriptor directly, twice as fast. For the few places that make an
    object per turn or per phrase hit, and only for classes without ``__post_init__`` (which
    this would skip): asked to, it refuses."""
    if "__post_init__" in vars(cls) or not hasattr(cls, "__slots__"):
        raise TypeError(f"{cls.__name__}: positional_maker needs a slotted dataclass without "
                        "__post_init__")
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    env: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    env.update({f"_set{i}": vars(cls)[n].__set__ for i, n in enumerate(names)})
    # generated as dataclasses generates __init__: one straight-line function, no loop
    src = (f"def make({', '.join(names)}):\n    self = _new(_cls)\n"
           + "".join(f"    _set{i}(self, {n})\n" for i, n in enumerate(names))
           + "    return self\n")
    exec(src, env)  # the source is built above from the field names alone
    make: Callable[..., _T] = env["make"]
    make.__qualname__ = f"positional_maker({cls.__name__})"
    return make
