"""Evaluate a policy's rules on one conversation's facts, and score the result.

Input is what earlier stages found (per-turn lexicon findings, a lazy per-turn tone
verdict); output is one :class:`~phrasecheck.types.RuleResult` per rule, each with its
evidence, and a :class:`~phrasecheck.types.ConversationScore`. This module reads no files and
runs no matcher or model: it only applies the policy.
"""

from __future__ import annotations

import functools
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .complaints import ComplaintEvent, VerdictFn, detect_complaints
from .holds import AnnounceFn, HoldEvent, detect_holds
from .policy import Policy, Rule
from .tone import could_flag, decide, subcategory_of
from .types import (
    TONE_SUGGESTIONS,
    Conversation,
    ConversationScore,
    Evidence,
    Finding,
    RuleResult,
    ToneResult,
    positional_maker,
)

__all__ = ["Facts", "RuleTrace", "evaluate", "evaluate_rule", "hold_events", "score",
           "tone_finding"]

ToneFn = Callable[[int], "ToneResult | None"]


@dataclass
class Facts:
    """What the earlier stages know about one conversation.

    ``findings[i]`` are the lexicon findings (all kinds, cues included) of ``turns[i]``;
    ``tone(i)`` gives the classifier's verdict for turn ``i`` (``None`` without a model).
    """

    conversation: Conversation
    findings: Sequence[Sequence[Finding]]
    tone: ToneFn | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    classifier_findings: list[Finding] = field(default_factory=list)
    complaint: VerdictFn | None = None
    #: the hold-announcement model's verdict on an agent turn (:data:`holds.AnnounceFn`)
    announce: AnnounceFn | None = None
    _holds: list[HoldEvent] | None = field(default=None, repr=False, compare=False)
    _complained: set[int] | None = field(default=None, repr=False, compare=False)
    # positions of the turns of each role ("any" = all), computed once per role: every rule
    # asks for them
    _by_role: dict[str, list[int]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def turns(self) -> Sequence[Any]:
        return self.conversation.turns

    def holds(self) -> list[HoldEvent]:
        """The holds of the conversation (computed once)."""
        if self._holds is None:
            self._holds = detect_holds(self.turns, self.findings, self.settings,
                                       self.conversation.metadata.get("channel"),
                                       self.announce)
        return self._holds

    def complaint_positions(self) -> set[int]:
        """Positions of the customer turns that are complaints at the policy's complaint
        threshold (``settings.complaint_threshold``), computed once."""
        if self._complained is None:
            th = float(self.settings.get("complaint_threshold", 0.5))
            self._complained = {c.position for c in self.complaints(th)}
        return self._complained

    def complaints(self, threshold: float, role: str = "customer") -> list[ComplaintEvent]:
        """The complaint events at ``threshold`` (the detector's probability)."""
        return detect_complaints(self.turns, self.findings, self.complaint, threshold, role)

    def positions(self, role: str) -> list[int]:
        """Positions (in ``turns``) of the turns of ``role``, or of all turns for "any"."""
        got = self._by_role.get(role)
        if got is None:
            got = self._by_role[role] = [i for i, t in enumerate(self.turns)
                                         if role == "any" or t.role == role]
        return got


@dataclass
class RuleTrace:
    """What one rule looked at and concluded; ``str()`` gives a readable account."""

    rule: Rule
    result: RuleResult
    steps: list[str]

    def __str__(self) -> str:
        head = (f"rule {self.rule.id} ({self.rule.kind}): {self.result.outcome.upper()}, "
                f"deduction {self.result.deduction:g}")
        if self.result.veto:
            head += ", VETO"
        lines = [head, f"  {self.rule.title}"]
        lines += [f"  - {s}" for s in self.steps]
        lines += [f"  evidence: {_ev(e)}" for e in self.result.evidence]
        return "\n".join(lines)


def _ev(e: Evidence) -> str:
    if e.turn is not None and e.text is not None:
        return f"turn {e.turn} [{e.start}:{e.end}] “{e.text}” — {e.note}"
    if e.window is not None:
        return f"turns {e.window[0]}–{e.window[1] - 1} — {e.note}"
    return e.note


def _positions(facts: Facts, role: str | None, default: str = "agent") -> list[int]:
    return facts.positions(role or default)


def _hits(facts: Facts, positions: Sequence[int], categories: Sequence[str]) -> list[Finding]:
    cats = set(categories)
    return [f for i in positions for f in facts.findings[i] if f.category in cats]


_make_evidence = positional_maker(Evidence)


def _span_evidence(f: Finding, note: str) -> Evidence:
    # Evidence(note, turn, start, end, text, window, code)
    return _make_evidence(note, f.turn, f.start, f.end, f.text, None, f.code)


def _window(facts: Facts, positions: Sequence[int], note: str) -> Evidence:
    idx = [facts.turns[p].index for p in positions]
    return Evidence(note=note, window=(min(idx), max(idx) + 1) if idx else None)


# ------------------------------------------------------------------------------ events


def hold_events(facts: Facts) -> list[tuple[int, str]]:
    """Positions of the agent turns that put the customer on hold, with the reason.

    See :mod:`phrasecheck.holds` for the evidence a hold needs. Returns
    ``(position, explanation)`` sorted by position.
    """
    return [(h.position, h.explain()) for h in facts.holds()]


# --------------------------------------------------------------------------- evaluation


def evaluate(policy: Policy, facts: Facts) -> list[RuleResult]:
    return [evaluate_rule(rule, facts) for rule in policy.rules]


class _Untraced(list[str]):
    """The steps of a rule nobody asked to trace: appended to, never kept."""

    def append(self, item: str) -> None:
        pass


_UNTRACED = _Untraced()


def evaluate_rule(rule: Rule, facts: Facts, trace: list[str] | None = None) -> RuleResult:
    steps: list[str] = _UNTRACED if trace is None else trace
    passed, evidence, occurrences, message = _run(rule.kind, rule.spec, facts, steps, rule)
    deduction = 0.0
    if passed is False:
        if rule.per == "occurrence":
            deduction = sum(occurrences) if occurrences else rule.deduction
        else:
            deduction = rule.deduction
        if rule.cap is not None:
            deduction = min(deduction, rule.cap)
    # RuleResult(rule_id, passed, deduction, evidence, title, basis, veto, message)
    return _make_result(rule.id, passed, round(deduction, 4), tuple(evidence), rule.title,
                        rule.basis, bool(rule.veto and passed is False), message)


_make_result = positional_maker(RuleResult)


Outcome = tuple["bool | None", list[Evidence], list[float], str]


def _run(kind: str, spec: Mapping[str, Any], facts: Facts, steps: list[str],
         rule: Rule) -> Outcome:
    if kind == "require":
        return _require(spec, facts, steps)
    if kind == "forbid":
        return _forbid(spec, facts, steps, rule)
    if kind == "classifier":
        return _classifier(spec, facts, steps, rule)
    if kind == "context":
        return _context(spec, facts, steps, rule)
    return _compose(kind, spec, facts, steps, rule)


def _require(spec: Mapping[str, Any], facts: Facts, steps: list[str]) -> Outcome:
    role = spec.get("role", "agent")
    cats = spec["categories"]
    positions = _positions(facts, role)
    scope = spec.get("scope", "anywhere")
    where = "anywhere"
    if isinstance(scope, dict):
        (edge, n), = scope.items()
        positions = positions[:n] if edge == "first" else positions[-n:]
        where = f"{edge} {n}"
    if not positions:
        steps.append(f"no {role} turns: rule does not apply")
        return None, [], [], f"no {role} turns to check"
    if steps is not _UNTRACED:  # listing the turns costs more than the check itself
        steps.append(f"looked for {'/'.join(cats)} in {role} turns "
                     f"{[facts.turns[p].index for p in positions]} ({where})")
    hits = _hits(facts, positions, cats)
    if hits:
        f = hits[0]
        steps.append(f"found “{f.text}” ({f.code}) in turn {f.turn}")
        return True, [_span_evidence(f, f"{f.category} phrase {f.code}")], [], (
            f"found “{f.text}” in turn {f.turn}")
    note = f"expected a {'/'.join(cats)} phrase in the {where} {role} turns"
    steps.append("none found")
    return False, [_window(facts, positions, note)], [], note


def _forbid(spec: Mapping[str, Any], facts: Facts, steps: list[str], rule: Rule) -> Outcome:
    role = spec.get("role", "agent")
    cats = spec["categories"]
    positions = _positions(facts, role)
    weights = spec.get("severity_weights") or {}
    hits = _hits(facts, positions, cats)
    steps.append(f"looked for {'/'.join(cats)} in {len(positions)} {role} turns: "
                 f"{len(hits)} hit(s)")
    if not hits:
        return True, [], [], "no banned phrase"
    occ = [rule.deduction * float(weights.get(f.severity, 1.0)) for f in hits]
    ev = [_span_evidence(f, f"{f.category} ({f.severity}) {f.code}"
                            + (f"; say instead: {f.suggestion}" if f.suggestion else ""))
          for f in hits]
    for f in hits:
        steps.append(f"turn {f.turn}: “{f.text}” = {f.code} {f.category}/{f.severity}")
    return False, ev, occ, f"{len(hits)} banned phrase(s): " + "、".join(
        dict.fromkeys(f.text for f in hits))


def _complained(facts: Facts, position: int) -> bool:
    """Whether a short reply to the customer turn at ``position`` answers a complaint: the
    detector's verdict at the policy's threshold, or a complaint cue of the lexicon."""
    return position in facts.complaint_positions() or any(
        f.category == "complaint" for f in facts.findings[position])


def _classifier(spec: Mapping[str, Any], facts: Facts, steps: list[str], rule: Rule) -> Outcome:
    if facts.tone is None:
        steps.append("no classifier model loaded: rule does not apply")
        return None, [], [], "no classifier model loaded"
    label = spec["label"]
    threshold = float(spec.get("threshold", 0.5))
    positions = _positions(facts, spec.get("role"))
    flagged = []
    turns = facts.turns
    held_back = 0
    for p in positions:
        tone = facts.tone(p)
        if tone is None or not could_flag(tone, label, threshold):
            continue  # nothing to report, whatever the reply answers
        # the customer turn the reply answers: the last one before it
        before = next((i for i in range(p - 1, -1, -1) if turns[i].role == "customer"), None)
        d = decide(tone, label, threshold, facts.turns[p].text,
                   None if before is None else functools.partial(_complained, facts, before))
        if d.flagged:
            flagged.append((p, tone, d))
        elif d.probability >= threshold:
            held_back += 1
            steps.append(f"turn {facts.turns[p].index}: P({label}) = {d.probability:.2f} but "
                         f"{d.reason}: not reported")
    steps.append(f"classified {len(positions)} turns; {len(flagged)} with P({label}) >= "
                 f"{threshold:g}" + (f" reported ({held_back} too short to judge)"
                                     if held_back else ""))
    if not flagged:
        return True, [], [], f"no {label} reply"
    ev = []
    for p, tone, d in flagged:
        t = facts.turns[p]
        f = tone_finding(tone, label, t.text, t.index, t.role, rule.basis, rule.id,
                         reason=d.reason)
        steps.append(f"turn {t.index}: {f.explanation}: “{t.text}”")
        ev.append(Evidence(note=f.explanation, turn=t.index, start=0, end=len(t.text),
                           text=t.text, code=f.code))
        facts.classifier_findings.append(f)
    return False, ev, [rule.deduction] * len(flagged), f"{len(flagged)} {label} repl(ies)"


_SUB_NAMES = {"deflect": "推诿 deflect", "stonewall": "搪塞 stonewall"}


def tone_finding(tone: ToneResult, label: str, text: str, turn: int | None, role: str | None,
                 basis: str | None, rule_id: str | None = None, reason: str = "") -> Finding:
    """The whole-turn finding for a reply the tone classifier flagged as ``label``."""
    prob = float(tone.probabilities.get(label, 0.0))
    sub = subcategory_of(tone, label)
    top = "、".join(f for f, _ in tone.features[:3])
    note = f"reply-tone classifier: P({label}) = {prob:.2f}" + (f"; cues: {top}" if top else "")
    if rule_id:
        note += f" (rule {rule_id})"
    if sub in _SUB_NAMES:
        note += f" [{_SUB_NAMES[sub]}]"
    if reason:
        note += f" — {reason}"
    return Finding(code=f"TONE-{label.upper()}", category=label, kind="banned", phrase="",
                   text=text, start=0, end=len(text), turn=turn, severity="major",
                   source="classifier", score=round(prob, 4),
                   suggestion=TONE_SUGGESTIONS.get(sub or label) or TONE_SUGGESTIONS.get(label),
                   basis=basis, explanation=note, role=role, subcategory=sub)


def _context(spec: Mapping[str, Any], facts: Facts, steps: list[str], rule: Rule) -> Outcome:
    trig, exp = spec["trigger"], spec["expect"]
    exp_role = exp.get("role", "agent")
    exp_cats = set(exp["categories"])
    within = int(exp.get("within", 1))
    window_kind = exp.get("window", "after")
    # (position, why, finding to point at or None)
    anchors: list[tuple[int, str, Finding | None]] = []
    event = trig.get("event")
    if event == "hold":
        for h in facts.holds():
            anchors.append((h.position, h.explain(), None))
    elif event == "complaint":
        threshold = float(trig.get("threshold", 0.5))
        for c in facts.complaints(threshold, trig.get("role", "customer")):
            anchors.append((c.position, c.explain(), c.cues[0] if c.cues else None))
    else:  # a lexicon trigger: turns of the role with a hit of the categories
        cats = set(trig["categories"])
        for pos in _positions(facts, trig.get("role"), "customer"):
            f = next((f for f in facts.findings[pos] if f.category in cats), None)
            if f is not None:
                anchors.append((pos, f"“{f.text}” ({f.category})", f))
    if not anchors:
        steps.append("no trigger: rule does not apply")
        return None, [], [], "no trigger"
    role_positions = _positions(facts, exp_role)
    evidence: list[Evidence] = []
    occ: list[float] = []
    met_any = False
    for pos, why, trig_f in anchors:
        t = facts.turns[pos]
        if window_kind == "after":
            k = bisect_right(role_positions, pos)
            window = role_positions[k:k + within]
        else:
            k = bisect_right(role_positions, pos)
            window = role_positions[max(0, k - within):k]
        if not window:
            steps.append(f"turn {t.index}: {why}; no {exp_role} turn {window_kind} it: skipped")
            continue
        hit = next((f for p in window for f in facts.findings[p] if f.category in exp_cats),
                   None)
        if hit is not None:
            met_any = True
            steps.append(f"turn {t.index}: {why}; met by “{hit.text}” in turn {hit.turn}")
            evidence.append(_span_evidence(hit, f"after trigger in turn {t.index}: {why}"))
        else:
            note = (f"turn {t.index}: {why}; expected {'/'.join(exp['categories'])} in the "
                    f"{within} {exp_role} turn(s) {window_kind} it")
            steps.append(note + ": not found")
            if trig_f is not None:
                evidence.append(_span_evidence(trig_f, note))
            else:
                evidence.append(Evidence(note=note, turn=t.index, start=0, end=len(t.text),
                                         text=t.text))
            evidence.append(_window(facts, window, "searched here"))
            occ.append(rule.deduction)
    if not occ:
        return (True if met_any else None), evidence, [], (
            "every trigger answered" if met_any else "no trigger could be answered")
    return False, evidence, occ, f"{len(occ)} trigger(s) not answered"


def _compose(kind: str, spec: Mapping[str, Any], facts: Facts, steps: list[str],
             rule: Rule) -> Outcome:
    outcomes = []
    evidence: list[Evidence] = []
    for i, cond in enumerate(spec["conditions"]):
        sub = Rule(id=f"{rule.id}[{i + 1}]", kind=cond["kind"], title="", basis=None,
                   deduction=0.0, per="conversation", cap=None, veto=False,
                   spec={k: v for k, v in cond.items() if k != "kind"})
        sub_steps: list[str] = []
        passed, ev, _, msg = _run(sub.kind, sub.spec, facts, sub_steps, sub)
        outcomes.append(passed)
        evidence.extend(ev)
        steps.append(f"condition {i + 1} ({cond['kind']}): "
                     f"{'na' if passed is None else 'pass' if passed else 'fail'} — {msg}")
    applicable = [o for o in outcomes if o is not None]
    if not applicable:
        return None, evidence, [], "no condition applies"
    if kind == "all":
        ok = all(applicable)
    elif kind == "any":
        ok = any(applicable)
    else:
        ok = not any(applicable)
    return ok, evidence, [], f"{kind} of {len(outcomes)} conditions: {'met' if ok else 'not met'}"


# ------------------------------------------------------------------------------ scoring


def score(policy: Policy, facts: Facts, findings: Sequence[Finding]) -> ConversationScore:
    """Apply every rule and turn the deductions into a score and a grade."""
    results = evaluate(policy, facts)
    total = sum(r.deduction for r in results)
    vetoed = any(r.veto for r in results)
    value = policy.veto_score if vetoed else max(policy.floor, policy.start - total)
    all_findings = sorted([*findings, *facts.classifier_findings],
                          key=lambda f: (f.turn if f.turn is not None else -1, f.start, f.end,
                                         f.source, f.code))
    return ConversationScore(
        id=facts.conversation.id, score=round(value, 4), grade=policy.grade_for(value, vetoed),
        vetoed=vetoed, rule_results=tuple(results), findings=tuple(all_findings),
        policy=policy.name, metadata=dict(facts.conversation.metadata),
    )
