"""Merge review verdicts into a scored run: dismissed findings and rules stop deducting, the
scores and grades are recomputed, the audit trail is kept, the outputs are written again.

What a verdict changes (only 误报 / ``false_positive`` changes a score; 确认 and 待定 are
recorded):

* a dismissed banned phrase or tone-model verdict no longer counts in the ``forbid`` and
  ``classifier`` rules that cite it: their deduction is recomputed from the occurrences left
  (severity weights, ``per`` and ``cap`` as the policy says); with none left the rule passes;
* a dismissed failed rule (a missed greeting the ASR mangled, say) passes and deducts
  nothing, whatever kind it is;
* a dismissed required phrase no longer satisfies a ``require`` rule: the rule is checked
  again over the conversation's other phrases of its categories and may fail. (A
  ``context`` rule answered by that phrase is not re-run: its triggers are not stored in the
  results; review the rule itself.)

Applying is a pure function of the original scores and the verdicts: the run's
``OUT/.phrasecheck/records.jsonl`` is never changed, the verdicts merged so far are kept in
``OUT/.phrasecheck/verdicts.jsonl`` (a verdict row already there is not added again), and
every merge recomputes from both. So merging the same file twice changes nothing, a later
verdict on the same item (by its time) replaces an earlier one, and the audit trail keeps
them all.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..policy import Policy, Rule
from ..types import ConversationScore, Evidence, RuleResult
from .verdicts import Key, Verdict, VerdictProblem, read_verdicts

__all__ = ["AUDIT_COLUMNS", "ReviewResult", "apply_to_run", "apply_verdicts", "current"]

STORE = "verdicts.jsonl"
REVIEWED = "reviewed.jsonl"
AUDIT_COLUMNS = ["conversation_id", "target", "turn", "start", "end", "code", "rule", "verdict",
                 "reviewer", "comment", "time", "origin", "current", "matched", "effect",
                 "score_before", "score_after", "grade_before", "grade_after"]
UNMATCHED_COLUMNS = ["conversation_id", "target", "turn", "start", "end", "code", "rule",
                     "verdict", "reviewer", "comment", "time", "origin", "reason"]


def current(verdicts: Iterable[Verdict]) -> dict[Key, Verdict]:
    """The verdict in force for each key: the latest by its time (the later row among
    equal times)."""
    out: dict[Key, Verdict] = {}
    for v in verdicts:
        old = out.get(v.key)
        if old is None or v.when >= old.when:
            out[v.key] = v
    return out


# ------------------------------------------------------------------- one conversation


def _ekey(e: Evidence) -> tuple[Any, ...]:
    return (e.turn, e.start, e.end, e.code)


def apply_verdicts(score: ConversationScore, verdicts: Iterable[Verdict], policy: Policy,
                   turns: Sequence[Any] | None = None) -> ConversationScore:
    """``score`` with the verdicts about it applied (see the module docstring); ``turns``
    (the conversation's turns) let a dismissed required phrase re-check ``require`` rules.
    The same object back when nothing changes."""
    dismissed_f = {(v.turn, v.start, v.end, v.code) for v in verdicts
                   if v.target == "finding" and v.dismissed}
    dismissed_r = {v.rule for v in verdicts if v.target == "rule" and v.dismissed}
    if not dismissed_f and not dismissed_r:
        return score
    findings = {(f.turn, f.start, f.end, f.code): f for f in score.findings}
    rules = {r.id: r for r in policy.rules}
    results = []
    changed = False
    for r in score.rule_results:
        new = _review_rule(r, rules.get(r.rule_id), dismissed_f, dismissed_r, findings, score,
                           turns)
        changed |= new is not r
        results.append(new)
    if not changed:
        return score
    total = sum(r.deduction for r in results)
    vetoed = any(r.veto for r in results)
    value = policy.veto_score if vetoed else max(policy.floor, policy.start - total)
    return dataclasses.replace(score, score=round(value, 4),
                               grade=policy.grade_for(value, vetoed), vetoed=vetoed,
                               rule_results=tuple(results))


def _capped(rule: Rule, value: float) -> float:
    return round(min(value, rule.cap) if rule.cap is not None else value, 4)


def _review_rule(r: RuleResult, rule: Rule | None, dismissed_f: set[tuple[Any, ...]],
                 dismissed_r: set[str | None], findings: Mapping[tuple[Any, ...], Any],
                 score: ConversationScore, turns: Sequence[Any] | None) -> RuleResult:
    if r.passed is False and r.rule_id in dismissed_r:
        return dataclasses.replace(r, passed=True, deduction=0.0, veto=False)
    if rule is None:
        return r
    if r.passed is False and rule.kind in ("forbid", "classifier"):
        left = [e for e in r.evidence if _ekey(e) not in dismissed_f]
        if len(left) == len(r.evidence):
            return r
        if rule.kind == "forbid":
            label = "banned phrase"
            if not left:
                return dataclasses.replace(r, passed=True, deduction=0.0, veto=False,
                                           evidence=(), message="no banned phrase")
            weights = rule.spec.get("severity_weights") or {}
            occ = [rule.deduction * float(weights.get(
                getattr(findings.get(_ekey(e)), "severity", None), 1.0)) for e in left]
            message = f"{len(left)} {label}(s): " + "、".join(
                dict.fromkeys(e.text or "" for e in left))
        else:
            tone = str(rule.spec.get("label"))
            if not left:
                return dataclasses.replace(r, passed=True, deduction=0.0, veto=False,
                                           evidence=(), message=f"no {tone} reply")
            occ = [rule.deduction] * len(left)
            message = f"{len(left)} {tone} repl(ies)"
        deduction = sum(occ) if rule.per == "occurrence" else rule.deduction
        return dataclasses.replace(r, deduction=_capped(rule, deduction), evidence=tuple(left),
                                   veto=bool(rule.veto), message=message)
    if r.passed is True and rule.kind == "require" and turns is not None and any(
            _ekey(e) in dismissed_f for e in r.evidence):
        return _recheck_require(r, rule, dismissed_f, score, turns)
    return r


def _recheck_require(r: RuleResult, rule: Rule, dismissed_f: set[tuple[Any, ...]],
                     score: ConversationScore, turns: Sequence[Any]) -> RuleResult:
    """A ``require`` rule over the phrases the reviewer did not dismiss (as rules.py
    checks it)."""
    role = rule.spec.get("role", "agent")
    cats = set(rule.spec["categories"])
    positions = [t.index for t in turns if role == "any" or t.role == role]
    scope = rule.spec.get("scope", "anywhere")
    where = "anywhere"
    if isinstance(scope, Mapping):
        ((edge, n),) = scope.items()
        positions = positions[:n] if edge == "first" else positions[-n:]
        where = f"{edge} {n}"
    wanted = set(positions)
    hits = [f for f in score.findings if f.category in cats and f.turn in wanted
            and (f.turn, f.start, f.end, f.code) not in dismissed_f]
    if hits:
        f = hits[0]
        return dataclasses.replace(r, evidence=(Evidence(
            note=f"{f.category} phrase {f.code}", turn=f.turn, start=f.start, end=f.end,
            text=f.text, code=f.code),), message=f"found “{f.text}” in turn {f.turn}")
    note = f"expected a {'/'.join(rule.spec['categories'])} phrase in the {where} {role} turns"
    window = (min(positions), max(positions) + 1) if positions else None
    return dataclasses.replace(r, passed=False, deduction=_capped(rule, rule.deduction),
                               veto=bool(rule.veto), message=note,
                               evidence=(Evidence(note=note, window=window),))


# ------------------------------------------------------------------------- a scored run


@dataclass
class ReviewResult:
    """What :func:`apply_to_run` did."""

    out_dir: Path
    added: int = 0  # verdict rows new to the run
    total: int = 0  # verdict rows merged so far
    in_force: int = 0  # verdicts in force (the latest per item)
    matched: int = 0
    unmatched: list[tuple[Verdict, str]] = field(default_factory=list)
    problems: list[VerdictProblem] = field(default_factory=list)
    changed: dict[str, tuple[float, str, float, str]] = field(default_factory=dict)
    outputs: list[Path] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)  # verdicts in force by value


def _load_store(path: Path) -> list[Verdict]:
    out = []
    if path.exists():
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    d = json.loads(line)
                    out.append(Verdict(**d))
    return out


def _store_row(v: Verdict) -> str:
    d = dataclasses.asdict(v)
    return json.dumps(d, ensure_ascii=False) + "\n"


def run_config(out: Path) -> dict[str, Any]:
    """The options a run was scored with (``OUT/.phrasecheck/run.json``)."""
    from ..batch import WORK_DIR

    path = out / WORK_DIR / "run.json"
    if not path.exists():
        raise FileNotFoundError(f"{out} holds no phrasecheck run ({path} is missing; score "
                                "the transcripts with this version of phrasecheck first)")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def apply_to_run(out_dir: str | os.PathLike[str], verdict_files: Sequence[str | os.PathLike[str]],
                 *, lang: str | None = None, fail_under: float | None = None,
                 formats: Sequence[str] | None = None) -> ReviewResult:
    """Merge ``verdict_files`` into the scored run in ``out_dir`` and write its outputs
    again with the reviewed scores: ``scores.*``, ``findings.*``, ``errors.*``,
    ``report.html`` and ``report.xlsx`` as the run wrote them, plus ``review.csv`` (the
    audit trail: every verdict merged, who and when, and the score and grade before and
    after) and ``review_unmatched.csv`` (verdicts that match no finding or failed rule of
    the run: listed, never dropped). ``lang``, ``fail_under`` and ``formats`` default to the
    run's own."""
    from ..batch import WORK_DIR, BatchResult, _read_records, write_outputs
    from ..lexicon import load_lexicon
    from ..policy import load_policy
    from ..reports.redact import redactor
    from ..types import ReadError

    out = Path(out_dir)
    config = run_config(out)
    work = out / WORK_DIR
    records = work / "records.jsonl"
    result = ReviewResult(out)
    new, result.problems = read_verdicts(verdict_files)

    store_path = work / STORE
    stored = _load_store(store_path)
    seen = {v.identity() for v in stored}
    fresh = []
    for v in new:
        if v.identity() not in seen:
            seen.add(v.identity())
            fresh.append(v)
    if fresh:
        with open(store_path, "a", encoding="utf-8") as fh:
            for v in fresh:
                fh.write(_store_row(v))
    merged = [*stored, *fresh]
    result.added, result.total = len(fresh), len(merged)
    in_force = current(merged)
    result.in_force = len(in_force)

    policy = load_policy(config["policy"])
    lexicon = load_lexicon(*config.get("lexicons", []),
                           defaults=config.get("default_lexicon", True))
    red = redactor(config.get("redact", True))

    # the items of the run: findings and failed rules, by conversation (ids as written, and
    # as the reports show them when masking changed an id)
    items: dict[str, set[Key]] = {}
    shown: dict[str, list[str]] = {}
    for _, s in _read_records(records):
        keys = items.setdefault(s.id, set())
        for f in s.findings:
            keys.add(("finding", s.id, f.turn, f.start, f.end, f.code))
        for r in s.rule_results:
            if r.passed is False:
                keys.add(("rule", s.id, r.rule_id))
        if red is not None:
            masked = red(s.id)
            if masked != s.id:
                shown.setdefault(masked, []).append(s.id)

    by_conversation: dict[str, dict[Key, Verdict]] = {}
    first: dict[int, Verdict] = {}  # id() of a verdict as matched -> as merged
    for key, v0 in in_force.items():
        v, cid = v0, v0.conversation_id
        if cid not in items and len(shown.get(cid, [])) == 1:
            cid = shown[cid][0]
            v = dataclasses.replace(v0, conversation_id=cid)
            key = v.key
        if cid not in items:
            why = ("ambiguous conversation id (masked ids repeat)" if cid in shown
                   else "no conversation with this id in the run")
            result.unmatched.append((v0, why))
        elif key not in items[cid]:
            what = "failed rule" if v.target == "rule" else "finding"
            result.unmatched.append((v0, f"no such {what} in this conversation"))
        else:
            by_conversation.setdefault(cid, {})[key] = v
            first[id(v)] = v0
            result.matched += 1
            result.counts[v.verdict] += 1

    reviewed = work / REVIEWED
    original: dict[str, tuple[float, str]] = {}
    summary = BatchResult(out_dir=out)
    effects: dict[int, str] = {}  # by id() of the verdict as merged
    tmp = reviewed.with_name(f".{REVIEWED}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        for c, s in _read_records(records):
            mine = by_conversation.get(s.id, {})
            new_score = apply_verdicts(s, mine.values(), policy, c.turns)
            if new_score is not s:
                original[s.id] = (s.score, s.grade)
                if (new_score.score, new_score.grade) != (s.score, s.grade):
                    result.changed[s.id] = (s.score, s.grade, new_score.score, new_score.grade)
                for v in mine.values():
                    effects[id(first[id(v)])] = _effect(s, new_score, v)
            from ..types import conversation_to_dict

            fh.write(json.dumps({"c": conversation_to_dict(c), "s": new_score.to_dict()},
                                ensure_ascii=False, default=str) + "\n")
            summary.scores.append(new_score.score)
            summary.grades[new_score.grade] += 1
            summary.vetoed += new_score.vetoed
            summary.violations.update(r.rule_id for r in new_score.rule_results
                                      if r.passed is False)
    os.replace(tmp, reviewed)
    summary.errors = [ReadError(**e) for e in _errors(work)]

    class _Run:  # what write_outputs needs of an Analyzer
        pass

    run = _Run()
    run.policy, run.lexicon = policy, lexicon  # type: ignore[attr-defined]
    verdict_map = {k: v for m in by_conversation.values() for k, v in m.items()}
    result.outputs = write_outputs(
        out, reviewed, summary, run, list(formats or config.get("formats", ["csv"])),
        config.get("redact", True), context=int(config.get("context", 40)),
        turns=bool(config.get("turns", False)),
        fail_under=fail_under if fail_under is not None else config.get("fail_under"),
        lang=lang or config.get("lang", "zh"), verdicts=verdict_map, original=original)
    result.outputs.append(_write_audit(out, merged, in_force, set(map(id, first.values())),
                                       effects, original, reviewed))
    result.outputs.append(_write_unmatched(out, result.unmatched))
    return result


def _errors(work: Path) -> Iterator[dict[str, Any]]:
    path = work / "errors.jsonl"
    if path.exists():
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)


def _effect(before: ConversationScore, after: ConversationScore, v: Verdict) -> str:
    """What a verdict did to the rules, in a few words."""
    if not v.dismissed:
        return ""
    old = {r.rule_id: r for r in before.rule_results}
    parts = []
    for r in after.rule_results:
        o = old.get(r.rule_id)
        if o is not None and (o.deduction, o.passed) != (r.deduction, r.passed):
            parts.append(f"{r.rule_id}: -{o.deduction:g} -> -{r.deduction:g}")
    return "; ".join(parts)


def _write_audit(out: Path, merged: Sequence[Verdict], in_force: Mapping[Key, Verdict],
                 matched: set[int], effects: Mapping[int, str],
                 original: Mapping[str, tuple[float, str]], reviewed: Path) -> Path:
    from ..batch import _write_table

    final: dict[str, tuple[float, str]] = {}
    for _, s in _read_reviewed(reviewed):
        final[s.id] = (s.score, s.grade)
    current_ids = {id(v) for v in in_force.values()}

    def rows() -> Iterator[dict[str, Any]]:
        for v in merged:
            cid = v.conversation_id
            is_current = id(v) in current_ids
            before = original.get(cid) or final.get(cid)
            now = final.get(cid)
            yield {**v.to_dict(), "origin": v.origin, "current": is_current,
                   "matched": id(v) in matched,
                   "effect": effects.get(id(v), "") if is_current else "superseded",
                   "score_before": None if before is None else before[0],
                   "score_after": None if now is None else now[0],
                   "grade_before": None if before is None else before[1],
                   "grade_after": None if now is None else now[1]}

    return _write_table(out / "review", "csv", AUDIT_COLUMNS, rows)


def _write_unmatched(out: Path, unmatched: Sequence[tuple[Verdict, str]]) -> Path:
    from ..batch import _write_table

    def rows() -> Iterator[dict[str, Any]]:
        for v, why in unmatched:
            yield {**v.to_dict(), "origin": v.origin, "reason": why}

    return _write_table(out / "review_unmatched", "csv", UNMATCHED_COLUMNS, rows)


def _read_reviewed(path: Path) -> Iterator[tuple[Any, ConversationScore]]:
    from ..batch import _read_records

    yield from _read_records(path)
