"""Rows of the Excel report's Violations and Rule evidence sheets, made from scored
conversations (the batch run streams them from its records file).

A Violations row is either a finding that is not a required phrase (a banned phrase, a
tone-model verdict: ``target="finding"``) or a failed rule (``target="rule"``); its review key
is ``conversation_id, target, turn, start, end, code, rule`` (see :mod:`phrasecheck.review`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from .. import i18n
from ..types import Conversation, ConversationScore, Evidence

__all__ = ["RULE_EVIDENCE_COLUMNS", "rule_evidence_rows", "violation_rows"]

RULE_EVIDENCE_COLUMNS = ["conversation_id", "rule_id", "title", "outcome", "deduction", "veto",
                         "message", "evidence", "basis"]

Verdicts = Mapping[tuple[Any, ...], Any]  # review key -> Verdict


def violation_rows(conv: Conversation, sc: ConversationScore,
                   finding_rows: Iterable[dict[str, Any]], bases: Mapping[str, Any],
                   red: Callable[[str], str], lang: str = i18n.DEFAULT_LANG,
                   category_title: Callable[[str], str] | None = None,
                   verdicts: Verdicts | None = None) -> Iterator[dict[str, Any]]:
    """The conversation's violations: its finding rows (as ``_finding_rows`` makes them)
    that are not required phrases, then its failed rules; ``verdicts`` fill the review
    columns of the items already reviewed."""
    from ..review import finding_key, rule_key

    verdicts = verdicts or {}
    for row in finding_rows:
        if row.get("kind") == "required":
            continue
        out = dict(row, target="finding", rule=row.get("rules"), deduction=None)
        if out.get("source") == "classifier" and out.get("explanation"):
            out["explanation"] = i18n.evidence_note(str(out["explanation"]), lang,
                                                    category_title)
        v = verdicts.get(finding_key(sc.id, row.get("turn"), row.get("start"), row.get("end"),
                                     row.get("code")))
        _review(out, v)
        yield out
    for r in sc.rule_results:
        if r.passed is not False:
            continue
        basis = bases.get(r.basis) if r.basis else None
        out = {"conversation_id": sc.id, "target": "rule", "turn": None, "role": None,
               "start": None, "end": None, "code": None, "rule": r.rule_id,
               "category": None, "kind": "rule", "severity": None,
               "text": red(r.title or r.rule_id), "context": None, "context_start": None,
               "phrase": None, "suggestion": None, "source": "rule", "score": None,
               "deduction": r.deduction, "basis": r.basis,
               "basis_text": None if basis is None else basis.text,
               "explanation": red(i18n.rule_message(r.message, lang, category_title))}
        _review(out, verdicts.get(rule_key(sc.id, r.rule_id)))
        yield out


def _review(row: dict[str, Any], verdict: Any) -> None:
    row["verdict"] = None if verdict is None else verdict.verdict
    row["reviewer"] = None if verdict is None else (verdict.reviewer or None)
    row["comment"] = None if verdict is None else (verdict.comment or None)


def rule_evidence_rows(sc: ConversationScore, red: Callable[[str], str],
                       lang: str = i18n.DEFAULT_LANG,
                       category_title: Callable[[str], str] | None = None
                       ) -> Iterator[dict[str, Any]]:
    """One row per rule that applied: its outcome, deduction, message and evidence."""
    for r in sc.rule_results:
        if r.passed is None:
            continue
        yield {"conversation_id": sc.id, "rule_id": r.rule_id, "title": r.title,
               "outcome": r.outcome, "deduction": r.deduction, "veto": r.veto,
               "message": red(i18n.rule_message(r.message, lang, category_title)),
               "evidence": red("\n".join(_evidence(e, lang, category_title)
                                         for e in r.evidence)),
               "basis": r.basis}


def _evidence(e: Evidence, lang: str, category_title: Callable[[str], str] | None) -> str:
    note = i18n.evidence_note(e.note, lang, category_title)
    L = i18n.labels(lang)
    parts = [note]
    if e.turn is not None:
        parts.append(L.turn_n.format(n=e.turn)
                     + (f"“{e.text}”" if e.text and e.text not in note and len(e.text) <= 80
                        else ""))
    if e.window is not None:
        parts.append(L.searched.format(a=e.window[0], b=e.window[1] - 1))
    return " · ".join(parts)
