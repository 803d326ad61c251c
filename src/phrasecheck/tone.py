"""Tone decisions: the classifier's verdict on a reply, judged with what it answers.

The reply-tone classifier (:mod:`phrasecheck.classify`) reads one reply. A QA lead reads a
reply with the customer turn it answers, and does not condemn a reply on thin evidence:

* a reply with almost no content (有的。/ 对 / 可以 / 随便你 — at most :data:`THIN_CHARS`
  characters once punctuation and fillers are gone) carries too little for the classifier to
  judge it alone. It is flagged only when it answers a complaint (the customer's turn before it
  is a complaint by the complaint detector, or holds one of the lexicon's complaint cues): 随便你
  after 我记住你工号了，我要投诉你 is rude, 有的。 after 有没有停车场？ is an answer. After a
  complaint the deployment prior (one rude reply in a hundred) no longer describes what
  follows, so such a reply is also flagged when it is ``label`` at the training mix
  (``ToneResult.balanced_label``);
* anything longer is flagged when the label's probability reaches the policy's threshold.

The probabilities are the model's, at its deployment prior (see
:meth:`phrasecheck.classify.ToneModel.with_prior`). Every decision carries its reason.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from .types import ToneResult

__all__ = ["THIN_CHARS", "ToneDecision", "content_chars", "could_flag", "decide",
           "subcategory_of"]

#: A reply with at most this many characters of content is too short to judge alone.
THIN_CHARS = 4
# interjections and sentence-final particles: no content of their own
_FILLERS = frozenset("嗯啊呃哦噢喔唉哎呀吧呢嘛哈啦咯哟诶欸呐么")


def content_chars(text: str) -> int:
    """Letters, digits and Chinese characters of ``text``, fillers and particles left out."""
    return sum(1 for ch in text if ch not in _FILLERS
               and unicodedata.category(ch)[0] in "LN")


def _is_thin(text: str) -> bool:
    """``content_chars(text) <= THIN_CHARS``, stopping as soon as the answer is known (a
    flagged reply is usually long)."""
    n = 0
    for ch in text:
        if ch not in _FILLERS and unicodedata.category(ch)[0] in "LN":
            n += 1
            if n > THIN_CHARS:
                return False
    return True


def subcategory_of(tone: ToneResult, label: str) -> str | None:
    """Which kind of ``label`` the model saw: ``deflect``/``stonewall`` for ``evasive`` (the
    likelier of its classes), ``rude`` for ``rude``; ``None`` when the model has no
    sub-categories for the label."""
    if tone.label == label and tone.subcategory:
        return tone.subcategory
    subs = {c: p for c, p in tone.sub_probabilities.items()
            if c in ("deflect", "stonewall")} if label == "evasive" else {}
    if subs:
        return max(subs, key=lambda c: subs[c])
    return label if label == "rude" and tone.sub_probabilities else None


@dataclass(frozen=True, slots=True)
class ToneDecision:
    """Whether a reply is reported as ``label``, with the probability and the reason."""

    flagged: bool
    label: str
    probability: float
    subcategory: str | None
    reason: str


def could_flag(tone: ToneResult, label: str, threshold: float) -> bool:
    """Whether :func:`decide` could flag a reply with this verdict as ``label``: its
    probability reaches the threshold, or (for a short reply to a complaint) ``label`` is the
    arg-max at the training mix. False for almost every reply: callers skip those cheaply."""
    return (float(tone.probabilities.get(label, 0.0)) >= threshold
            or tone.balanced_label == label)


def decide(tone: ToneResult, label: str, threshold: float, text: str,
           answers_complaint: bool | Callable[[], bool] | None = None) -> ToneDecision:
    """Flag ``text`` as ``label`` or not (see the module docstring).

    ``answers_complaint`` says whether the customer turn the reply answers is a complaint
    (``None``: no such turn is known); a callable is asked only when the answer matters (a
    short reply that could be flagged), since finding out may run the complaint detector.
    """
    p = float(tone.probabilities.get(label, 0.0))
    sub = subcategory_of(tone, label)
    if not could_flag(tone, label, threshold):  # the common case, decided cheaply
        return ToneDecision(False, label, p, sub, f"P({label}) = {p:.2f} < {threshold:g}")
    if _is_thin(text):
        if callable(answers_complaint):
            answers_complaint = answers_complaint()
        if not answers_complaint:
            why = (f"P({label}) = {p:.2f} < {threshold:g}" if p < threshold
                   else "too short to judge without a complaint before it")
            return ToneDecision(False, label, p, sub, why)
        if p >= threshold:
            return ToneDecision(True, label, p, sub, "a short reply to a complaint")
        # After a complaint, a curt reply is far likelier than on ordinary traffic, so the
        # deployment prior understates it: the reply is judged at the training mix instead.
        if tone.balanced_label == label:
            return ToneDecision(True, label, p, sub,
                                f"a short reply to a complaint, {label} at the training mix")
        return ToneDecision(False, label, p, sub, f"P({label}) = {p:.2f} < {threshold:g}")
    if p < threshold:
        return ToneDecision(False, label, p, sub, f"P({label}) = {p:.2f} < {threshold:g}")
    return ToneDecision(True, label, p, sub, "")

