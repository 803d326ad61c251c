"""Complaints: which customer turns express dissatisfaction, and why we think so.

A complaint is dissatisfaction with the service, the organisation or the agent, said outright
(我要投诉, 什么态度), implied (我跑了三趟了, 等了一个多小时), sarcastic (你们效率可真高啊) or as a
threat to escalate (打12345, 找媒体, 找你们领导). Mentions of 投诉 that are not complaints
(上次投诉的进度, 我要表扬一下小王, 我不是来投诉的) are not.

Two sources of evidence are combined:

* the ``complaint`` cues of the lexicon (``lexicons/cues.yaml``): explicit, reviewable phrases;
* a learned detector (:class:`~phrasecheck.classify.TextModel` trained on hand-written customer
  turns, ``corpora/customer``), which sees the turn's text and whether a cue matched, and gives
  a probability.

With a model, a turn is a complaint when the model's probability reaches the policy's
threshold (the cue is one of the model's features, so a cue alone is strong but not decisive:
a cue inside 我想问问上次投诉的进度 is outweighed by the rest). Without a model, a cue hit is a
complaint with confidence 1. Every event carries its confidence and the evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .types import Finding, Turn

__all__ = ["CUE_MARK", "ComplaintEvent", "ComplaintVerdict", "detect_complaints"]

#: Appended (after a space) to a customer turn's text when the lexicon found a complaint cue
#: in it: the detector sees the cue as one of its features, a private-use character that
#: never occurs in text, so it learns how far a cue can be trusted.
CUE_MARK = "\ue0c1"


@dataclass(frozen=True, slots=True)
class ComplaintVerdict:
    """The learned detector's view of one customer turn."""

    probability: float
    features: tuple[tuple[str, float], ...] = ()


VerdictFn = Callable[[int], "ComplaintVerdict | None"]


@dataclass(frozen=True, slots=True)
class ComplaintEvent:
    """A customer turn judged to be a complaint, with its confidence and evidence."""

    position: int
    turn: int
    confidence: float
    how: str  # "model", "model+cue" or "cue"
    cues: tuple[Finding, ...] = ()
    features: tuple[str, ...] = ()

    def explain(self) -> str:
        parts = [f"complaint in turn {self.turn}"]
        if self.how == "cue":
            parts.append("cue " + "、".join(f"“{c.text}” ({c.code})" for c in self.cues))
        else:
            parts.append(f"detector P = {self.confidence:.2f}")
            if self.cues:
                parts.append("cue " + "、".join(f"“{c.text}”" for c in self.cues))
            if self.features:
                parts.append("words " + "、".join(self.features))
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"turn": self.turn, "confidence": self.confidence, "how": self.how,
                "cues": [c.text for c in self.cues], "features": list(self.features),
                "explanation": self.explain()}


def detect_complaints(turns: Sequence[Turn], findings: Sequence[Sequence[Finding]],
                      verdict: VerdictFn | None, threshold: float,
                      role: str = "customer") -> list[ComplaintEvent]:
    """Complaint events among the turns of ``role``, in order.

    ``findings[i]`` are the lexicon findings of ``turns[i]`` (complaint cues among them);
    ``verdict(i)`` is the learned detector's verdict for turn ``i`` (``None`` = no model).
    """
    events: list[ComplaintEvent] = []
    for p, t in enumerate(turns):
        if t.role != role:
            continue
        cues = tuple(f for f in findings[p] if f.category == "complaint")
        v = verdict(p) if verdict is not None else None
        if v is None:
            if cues:
                events.append(ComplaintEvent(p, t.index, 1.0, "cue", cues))
            continue
        if v.probability >= threshold:
            words = tuple(name for name, w in v.features if w > 0)[:3]
            events.append(ComplaintEvent(p, t.index, round(v.probability, 4),
                                         "model+cue" if cues else "model", cues, words))
    return events
