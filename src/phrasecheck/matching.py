"""Phrase matching: one Aho-Corasick automaton per lexicon, verified candidates.

Pipeline for one text: normalise (with offset map) → one ``Automaton.iter`` pass over the
folded text → each hit is a *candidate* → verify it (allow-list, then jieba token boundaries
for entries that need them) → resolve overlaps → map spans back to the original text.

Offsets: pyahocorasick reports the *inclusive* index of a hit's last character. It is
converted to a half-open span in exactly one place, :meth:`PhraseMatcher.scan`.

Overlap policy (``overlap="longest"``, the default): a hit lying inside a longer hit is
dropped, whatever their categories (``你好`` inside ``你好烦`` is not a greeting); hits of the
same category that partly overlap keep the leftmost (then longest); partly overlapping hits
of different categories are both kept. ``overlap="all"`` keeps every verified hit.

Verification is tokenisation *where it matters*: only candidates of entries that need a token
boundary are checked, and only the clause around the hit is segmented (and cached), so the
cost of matching stays close to the cost of the bare automaton scan.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from .lexicon import Lexicon, LexiconEntry
from .normalize import NormalizedText, Normalizer
from .tokenize import JiebaTokenizer, Tokenizer
from .types import Finding

__all__ = ["Hit", "PhraseMatcher"]

Overlap = Literal["longest", "all"]
_CLAUSE_END = re.compile(r"[,.!?;:，。！？；：、\s\"'“”‘’()（）\[\]【】《》<>]")
_WINDOW = 12  # characters of context either side of a hit that jieba sees


@dataclass(frozen=True, slots=True)
class Hit:
    """A verified hit: half-open span of the ORIGINAL text and the entry it matched."""

    start: int
    end: int
    entry: LexiconEntry
    form: str

    @property
    def code(self) -> str:
        return self.entry.code


class _Target:
    """What one automaton key points at (precomputed so the scan loop does little work)."""

    __slots__ = ("allow", "category", "entry", "form", "head", "index", "length",
                 "needs_check", "tail", "token_boundary")

    def __init__(self, index: int, entry: LexiconEntry, form: str,
                 allow: list[tuple[str, int]], token_boundary: bool) -> None:
        self.index = index
        self.entry = entry
        self.form = form
        self.length = len(form)
        self.category = entry.category
        self.allow = tuple(allow)
        self.token_boundary = token_boundary
        self.needs_check = bool(allow) or token_boundary
        self.head = self.tail = ""  # the fixed parts of a finding's explanation


class PhraseMatcher:
    """Find lexicon phrases in text. Built once; immutable and thread-safe afterwards."""

    def __init__(
        self,
        lexicon: Lexicon,
        *,
        normalizer: Normalizer | None = None,
        tokenizer: Tokenizer | None = None,
        overlap: Overlap = "longest",
        categories: Iterable[str] | None = None,
    ) -> None:
        import ahocorasick  # one place imports it

        if overlap not in ("longest", "all"):
            raise ValueError(f"unknown overlap policy {overlap!r} (expected 'longest' or 'all')")
        self.lexicon = lexicon
        self.normalizer = normalizer or Normalizer()
        self.overlap: Overlap = overlap
        wanted = None if categories is None else set(categories)
        self.entries = tuple(e for e in lexicon.entries
                             if wanted is None or e.category in wanted)
        self._targets: list[_Target] = []
        automaton = ahocorasick.Automaton()
        forms_for_jieba: list[str] = []
        for entry in self.entries:
            folded_allow = [self.normalizer.fold_phrase(a) for a in entry.allow]
            for form in entry.forms:
                key = self.normalizer.fold_phrase(form)
                if not key or key in automaton:
                    continue  # lint reports duplicates; the first entry wins here
                allow = [(a, i) for a in folded_allow for i in _find_all(a, key)]
                target = _Target(len(self._targets), entry, key, allow,
                                 entry.needs_token_boundary(key))
                self._targets.append(target)
                automaton.add_word(key, (target.length, target.needs_check, target))
                if len(key) > 1:
                    forms_for_jieba.append(key)
        automaton.make_automaton()
        self._automaton = automaton
        cats = lexicon.categories
        for t in self._targets:
            e = t.entry
            cat = cats.get(e.category)
            basis = lexicon.bases.get(e.basis) if e.basis else None
            t.head = (f"{cat.title if cat else e.category}（{e.category}）{e.kind} phrase "
                      f"{e.code} “{e.phrase}”: ")
            t.tail = f"from {e.where}" + (f"; basis: {basis.title}" if basis else "")
        # Lexicon phrases are added to jieba's dictionary so they segment as whole words.
        self.tokenizer: Tokenizer = tokenizer or JiebaTokenizer(words=forms_for_jieba)

    def __repr__(self) -> str:
        return (f"PhraseMatcher({len(self.entries)} entries, {len(self._targets)} forms, "
                f"overlap={self.overlap!r})")

    @property
    def patterns(self) -> list[str]:
        """Every folded surface form in the automaton (for benchmarks and debugging)."""
        return [t.form for t in self._targets]

    # ------------------------------------------------------------------------- hot path
    def scan(self, text: str) -> list[tuple[int, int, int]]:
        """Verified hits as ``(start, end, target)`` triples, half-open, ORIGINAL offsets.

        This is the fast path (no objects per hit); :meth:`find` builds :class:`Hit` s.
        """
        nt = self.normalizer.normalize(text)
        return self._scan_normalized(nt)

    def _scan_normalized(self, nt: NormalizedText) -> list[tuple[int, int, int]]:
        norm = nt.text
        cands: list[tuple[int, int, Any]] = []
        add = cands.append
        verify = self._verify
        for last, (length, check, t) in self._automaton.iter(norm):
            end = last + 1  # the single place inclusive ends become half-open
            if check and not verify(t, norm, end - length, end):
                continue
            add((end - length, -end, t))
        if not cands:
            return []
        # (start, -end): sorted means leftmost first, longest first at the same start
        cands.sort()
        if self.overlap == "longest" and len(cands) > 1:
            cands = _resolve_longest(cands)
        if nt.starts is None or nt.ends is None:
            return [(s, -e, t.index) for s, e, t in cands]
        ns, ne = nt.starts, nt.ends
        if isinstance(ns, list) and isinstance(ne, list):  # the short path's lists
            return [(ns[s], ne[-e - 1], t.index) for s, e, t in cands]
        import numpy as np

        starts = np.asarray(ns)[[c[0] for c in cands]].tolist()
        ends = np.asarray(ne)[[-c[1] - 1 for c in cands]].tolist()
        return [(s, e, c[2].index) for s, e, c in zip(starts, ends, cands)]

    def _verify(self, t: _Target, norm: str, start: int, end: int) -> bool:
        for allowed, offset in t.allow:
            at = start - offset
            if at >= 0 and norm.startswith(allowed, at):
                return False
        if t.token_boundary:
            # A form spelled in Latin letters or digits (sb, nt, 2b) must be a whole run of
            # them: jieba cuts an unknown run around a dictionary word (u|sb, i|nt|el), so its
            # boundaries cannot tell sb in usb from a standalone sb.
            if (start > 0 and norm[start].isascii() and norm[start].isalnum()
                    and norm[start - 1].isascii() and norm[start - 1].isalnum()):
                return False
            if (end < len(norm) and norm[end - 1].isascii() and norm[end - 1].isalnum()
                    and norm[end].isascii() and norm[end].isalnum()):
                return False
            lo = max(0, start - _WINDOW)
            hi = min(len(norm), end + _WINDOW)
            cut = max((m.end() for m in _CLAUSE_END.finditer(norm, lo, start)), default=None)
            if cut is not None:
                lo = cut
            right = _CLAUSE_END.search(norm, end, hi)
            if right is not None:
                hi = right.start()
            window = norm[lo:hi]
            cuts = self._boundaries(window)
            return (start - lo) in cuts and (end - lo) in cuts
        return True

    def _boundaries(self, window: str) -> frozenset[int]:
        fn = getattr(self.tokenizer, "boundaries", None)
        if fn is not None:
            result: frozenset[int] = fn(window)
            return result
        cuts = {0}
        for _, _, e in self.tokenizer.tokenize(window):
            cuts.add(e)
        return frozenset(cuts)

    # ---------------------------------------------------------------------- friendly API
    def find(self, text: str) -> list[Hit]:
        """Verified hits in ``text``, sorted by position."""
        targets = self._targets
        return [Hit(s, e, targets[i].entry, targets[i].form) for s, e, i in self.scan(text)]

    def findings(self, text: str, *, turn: int | None = None, role: str | None = None
                 ) -> list[Finding]:
        """Verified hits as self-explaining :class:`~phrasecheck.types.Finding` s."""
        out = []
        targets = self._targets
        for s, e, i in self.scan(text):
            t = targets[i]
            entry = t.entry
            surface = text[s:e]
            how = "" if surface == entry.phrase else f"“{surface}” matches “{t.form}”; "
            explanation = t.head + how + t.tail
            out.append(Finding(
                code=entry.code, category=entry.category, kind=entry.kind, phrase=entry.phrase,
                text=surface, start=s, end=e, turn=turn, severity=entry.severity,
                source="lexicon", score=1.0, suggestion=entry.suggestion, basis=entry.basis,
                explanation=explanation, role=role,
            ))
        return out


def _find_all(haystack: str, needle: str) -> list[int]:
    out, i = [], haystack.find(needle)
    while i >= 0:
        out.append(i)
        i = haystack.find(needle, i + 1)
    return out


def _resolve_longest(cands: list[tuple[int, int, Any]]) -> list[tuple[int, int, Any]]:
    """Leftmost-longest per category; a hit nested in a longer kept hit is dropped.

    ``cands`` are ``(start, -end, target)`` sorted by start, longest first. O(n): a sweep
    keeps the furthest end of any kept hit (a later hit ending at or before it is nested in
    it) and, per category, the end of the last kept hit (a later one starting before it
    overlaps it).
    """
    kept: list[tuple[int, int, Any]] = []
    cover_end = -1
    cat_end: dict[str, int] = {}
    for c in cands:
        s, neg_end, t = c
        e = -neg_end
        if e <= cover_end or s < cat_end.get(t.category, -1):
            continue
        kept.append(c)
        if e > cover_end:
            cover_end = e
        cat_end[t.category] = e
    return kept
