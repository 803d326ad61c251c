"""What the verdicts say about the detectors: precision per rule, per lexicon entry and per
tone label, the entries reviewers dismiss most, and allow-list entries to suggest.

Precision is confirmed / (confirmed + dismissed); pending verdicts are counted, never in
the precision. A finding's verdict counts for its lexicon entry (or its tone label, for the
tone model's ``TONE-*`` codes) and for every rule it counted against (the verdict's ``rule``
column); a failed rule's verdict counts for that rule.

An allow-list suggestion is the word around a dismissed lexicon hit, taken from the
context the reviewer saw: the jieba words that overlap the hit, or, when the hit is a whole
word, that word and the next (页面**滚**动一下 → 滚动; **不知道**您是否方便 → 不知道您). Each
suggestion contains the entry's phrase as the lexicon's ``allow`` field requires; they are
suggestions for a person to read, with the dismissed contexts they came from, never added by
themselves.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .verdicts import Verdict

__all__ = ["ALLOW_COLUMNS", "STATS_COLUMNS", "ReviewStats", "Row", "review_stats"]

STATS_COLUMNS = ["group", "key", "phrase", "n", "confirmed", "false_positive", "pending",
                 "precision"]
ALLOW_COLUMNS = ["code", "phrase", "allow", "dismissed", "example"]


@dataclass
class Row:
    """Counts of one rule, lexicon entry or tone label."""

    group: str  # rule, entry or tone
    key: str
    phrase: str = ""
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def precision(self) -> float | None:
        judged = self.counts["confirmed"] + self.counts["false_positive"]
        return None if judged == 0 else self.counts["confirmed"] / judged

    def to_dict(self) -> dict[str, Any]:
        p = self.precision
        return {"group": self.group, "key": self.key, "phrase": self.phrase,
                "n": sum(self.counts.values()), "confirmed": self.counts["confirmed"],
                "false_positive": self.counts["false_positive"],
                "pending": self.counts["pending"], "precision": None if p is None else round(p, 4)}


@dataclass
class ReviewStats:
    rules: list[Row]
    entries: list[Row]
    tones: list[Row]
    allow: list[dict[str, Any]]

    @property
    def most_dismissed(self) -> list[Row]:
        """Lexicon entries and tone labels with a false alarm, most false alarms first."""
        rows = [r for r in (*self.entries, *self.tones) if r.counts["false_positive"]]
        return sorted(rows, key=lambda r: (-r.counts["false_positive"],
                                           r.precision if r.precision is not None else 1.0,
                                           r.key))

    def rows(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in (*self.rules, *self.entries, *self.tones)]


def review_stats(verdicts: Iterable[Verdict], phrases: Mapping[str, str] | None = None,
                 tokenize: Any = None) -> ReviewStats:
    """Statistics of ``verdicts`` (the ones in force: pass them through
    :func:`~phrasecheck.review.apply.current` first to count each item once). ``phrases``
    maps lexicon codes to their phrases; ``tokenize`` splits a text into
    ``(word, start, end)`` (default: a jieba tokenizer)."""
    phrases = phrases or {}
    rules: dict[str, Row] = {}
    entries: dict[str, Row] = {}
    tones: dict[str, Row] = {}
    dismissed: list[Verdict] = []
    for v in verdicts:
        if v.target == "rule":
            if v.rule:
                rules.setdefault(v.rule, Row("rule", v.rule)).counts[v.verdict] += 1
            continue
        for rid in (v.rule or "").split(","):
            if rid.strip():
                rules.setdefault(rid.strip(), Row("rule", rid.strip())).counts[v.verdict] += 1
        code = v.code or ""
        if code.startswith("TONE-"):
            label = code[5:].lower()
            tones.setdefault(label, Row("tone", label)).counts[v.verdict] += 1
        else:
            row = entries.setdefault(code, Row("entry", code, phrases.get(code, "")))
            row.counts[v.verdict] += 1
            if v.dismissed:
                dismissed.append(v)
    return ReviewStats(sorted(rules.values(), key=lambda r: r.key),
                       sorted(entries.values(), key=lambda r: r.key),
                       sorted(tones.values(), key=lambda r: r.key),
                       _allow(dismissed, phrases, tokenize))


def _allow(dismissed: Sequence[Verdict], phrases: Mapping[str, str], tokenize: Any
           ) -> list[dict[str, Any]]:
    if not dismissed:
        return []
    if tokenize is None:
        from ..tokenize import JiebaTokenizer

        tokenize = JiebaTokenizer().tokenize
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for v in dismissed:
        word = suggest_allow(v.text, v.context, tokenize, v.start)
        if word:
            found[(v.code or "", word)].append(v.context)
    out = [{"code": code, "phrase": phrases.get(code, ""), "allow": word,
            "dismissed": len(examples), "example": examples[0]}
           for (code, word), examples in found.items()]
    return sorted(out, key=lambda r: (-r["dismissed"], r["code"], r["allow"]))


def suggest_allow(text: str, context: str, tokenize: Any, start: int | None = None
                  ) -> str | None:
    """The word around ``text`` in ``context`` to allow, or ``None`` (no context, the hit
    not in it, masked characters, nothing longer than the hit)."""
    if not text or not context or "*" in context:
        return None
    at = _locate(text, context, start)
    if at is None:
        return None
    end = at + len(text)
    words = tokenize(context)
    over = [(w, a, b) for w, a, b in words if a < end and b > at]
    if not over:
        return None
    a, b = over[0][1], over[-1][2]
    if (a, b) == (at, end):  # the hit is whole words: take the next word too
        after = [(w, x, y) for w, x, y in words if x >= end and w.strip()]
        if not after or not _is_word(after[0][0]):
            return None
        b = after[0][2]
    word = context[a:b]
    if len(word) <= len(text) or len(word) > 16 or not _is_word(word.replace(text, "")):
        return None
    return word


def _locate(text: str, context: str, start: int | None) -> int | None:
    """Where ``text`` is in ``context``: the occurrence nearest where the reports cut the
    window (40 characters before the hit)."""
    hits = []
    i = context.find(text)
    while i >= 0:
        hits.append(i)
        i = context.find(text, i + 1)
    if not hits:
        return None
    expected = min(start, 40) if start is not None else 40
    return min(hits, key=lambda h: abs(h - expected))


def _is_word(s: str) -> bool:
    """Letters or CJK only (no punctuation, spaces or digits in an allow entry)."""
    return bool(s) and all(ch.isalpha() for ch in s)
