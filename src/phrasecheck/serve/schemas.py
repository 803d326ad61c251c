"""Typed request and response bodies: the OpenAPI schema is generated from these.

Requests are validated strictly (unknown fields, wrong types and unknown roles are 422
errors that name the field). Responses mirror the library's ``to_dict()`` output field for
field: a Java or Go client generated from ``/openapi.json`` reads exactly what
:class:`~phrasecheck.types.ConversationScore` and friends hold.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Role = Literal["agent", "customer", "system", "unknown"]
Lang = Literal["zh", "en"]

_STRICT = ConfigDict(extra="forbid")


# ------------------------------------------------------------------------------ requests


class TurnIn(BaseModel):
    """One chat message or utterance."""

    model_config = _STRICT
    role: Role = Field(description="Who spoke: agent, customer, system or unknown.")
    text: str = Field(description="What was said or written (limit: --max-text-chars).")
    start: float | None = Field(None, allow_inf_nan=False,
                                description="Seconds from the start, if known.")
    end: float | None = Field(None, allow_inf_nan=False,
                              description="Seconds from the start, if known.")
    speaker: str | None = Field(None, max_length=200,
                                description="The transcript's speaker label, if any.")


def _plain_json(value: dict[str, Any]) -> dict[str, Any]:
    try:  # NaN and Infinity parse, but could never be answered as JSON
        json.dumps(value, allow_nan=False)
    except ValueError:
        raise ValueError("metadata must be plain JSON (no NaN or Infinity)") from None
    return value


class CheckRequest(BaseModel):
    """One message, optionally with the turns before it."""

    model_config = _STRICT
    text: str = Field(description="The message (limit: --max-text-chars).",
                      examples=["不知道，你自己去问吧"])
    role: Role = Field("agent", description="Who wrote it.")
    context: list[TurnIn] | None = Field(
        None, description="The conversation so far (oldest first, at most "
                          "--max-context-turns). With it, the alerts that depend on earlier "
                          "turns (missing greeting, complaint without apology, hold) are "
                          "raised for this message as they would be in a session; without "
                          "it, only the alerts that depend on the message alone.")
    lang: Lang = Field("zh", description="Language of the alerts' messages.")


class ScoreRequest(BaseModel):
    """A whole conversation."""

    model_config = _STRICT
    id: str = Field("conversation", max_length=256, description="Conversation id.")
    turns: list[TurnIn] = Field(description="Turns in order (at most --max-turns).")
    metadata: dict[str, Any] = Field(default_factory=dict,
                                     description="Free-form; returned with the score.")

    _metadata = field_validator("metadata")(_plain_json)


class SessionCreate(BaseModel):
    model_config = _STRICT
    session_id: str | None = Field(
        None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$",
        description="Your own id for the session (e.g. the chat id); a random one if "
                    "omitted.")
    metadata: dict[str, Any] = Field(default_factory=dict)
    lang: Lang = Field("zh", description="Language of the alerts' messages.")
    state: str | None = Field(None, description="A state token from an export: restore "
                                                "that session here instead of opening a "
                                                "new one.")

    _metadata = field_validator("metadata")(_plain_json)


class SessionTurn(TurnIn):
    """A turn added to a session."""

    state: str | None = Field(
        None, description="The session's state token. When given it is the truth: the "
                          "session is restored from it first (this is how any worker or "
                          "instance can serve the chat without sticky routing).")
    return_state: bool = Field(False, description="Also return the state token after "
                                                  "this turn.")


class SessionFinalize(BaseModel):
    model_config = _STRICT
    state: str | None = Field(None, description="Restore from this state token first.")


# ----------------------------------------------------------------------------- responses


class FindingOut(BaseModel):
    code: str
    category: str
    kind: str
    phrase: str
    text: str = Field(description="As written in the message: text == message[start:end].")
    start: int
    end: int
    turn: int | None
    severity: str
    source: str = Field(description="lexicon, classifier or rule.")
    score: float
    suggestion: str | None
    basis: str | None
    explanation: str
    role: str | None


class AlertOut(BaseModel):
    kind: str = Field(description="veto, banned_phrase, rude_reply, evasive_reply, "
                                  "missing_greeting, no_apology, no_wait, "
                                  "no_thanks_after_hold.")
    rule_id: str | None
    turn: int
    message: str
    findings: list[FindingOut]
    suggestion: str | None
    severity: Literal["minor", "major", "critical"]
    veto: bool = Field(description="The rule is a one-vote veto (一票否决): the whole "
                                   "conversation fails.")


class CheckResponse(BaseModel):
    findings: list[FindingOut]
    alerts: list[AlertOut]
    suggestions: list[str] = Field(description="Compliant wording to offer instead, from "
                                               "the findings and alerts, without repeats.")
    veto: bool = Field(description="Some alert is a one-vote veto.")


class EvidenceOut(BaseModel):
    note: str
    turn: int | None
    start: int | None
    end: int | None
    text: str | None
    window: list[int] | None = Field(description="[first, last) turn indexes searched.")
    code: str | None


class RuleResultOut(BaseModel):
    rule_id: str
    passed: bool | None = Field(description="null: the rule did not apply.")
    deduction: float
    evidence: list[EvidenceOut]
    title: str
    basis: str | None
    veto: bool
    message: str


class ScoreOut(BaseModel):
    id: str
    score: float
    grade: str
    vetoed: bool
    rule_results: list[RuleResultOut]
    findings: list[FindingOut]
    policy: str
    metadata: dict[str, Any]


class RunningScoreOut(BaseModel):
    score: ScoreOut = Field(description="Scored as if the conversation ended now.")
    pending: list[str] = Field(description="Rules whose outcome may still change.")
    settled: float = Field(description="The score counting only settled rules.")
    settled_grade: str
    settled_vetoed: bool


class SessionOut(BaseModel):
    session_id: str
    turns: int
    idle_timeout: float = Field(description="Seconds of inactivity before it is dropped.")


class TurnOut(BaseModel):
    session_id: str
    turn: int = Field(description="Index of the turn just added.")
    findings: list[FindingOut]
    alerts: list[AlertOut]
    suggestions: list[str]
    veto: bool
    state: str | None = Field(None, description="With return_state: the state token.")


class SessionStatus(BaseModel):
    session_id: str
    turns: int
    alerts: list[AlertOut] = Field(description="Every alert raised so far.")
    running: RunningScoreOut


class StateOut(BaseModel):
    session_id: str
    turns: int
    signed: bool
    state: str = Field(description="Opaque token: store it as it is and send it back.")


class ErrorOut(BaseModel):
    error: str = Field(description="A stable code, e.g. unknown_session.")
    message: str
    request_id: str | None = None
    detail: list[dict[str, Any]] | None = Field(
        None, description="For invalid requests: each problem's location and reason.")


class Health(BaseModel):
    status: str
    ready: bool | None = None
    error: str | None = None
