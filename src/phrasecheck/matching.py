"""Phrase matching: one Aho-Corasick automaton per lexicon, verified candidates.

Pipeline for one text: normalise (with offset map) → one ``Automaton.iter`` pass over the
folded text → each hit is a *candidate* → verify it (allow-list, then jieba token boundaries
for entries that need them) → resolve overlaps → map spans back to the original text.

Offsets: pyahocorasick reports the *inclusive* index of a hit's last character. It is
converted to a half-open span in exactly one place, :meth:`PhraseMatcher.scan`.

Overlap policy (``overlap="longest"``, the default): a hit lying inside a longer hit is
dropped (``你好`` inside ``你好烦`` is not a greeting), except a courtesy phrase inside a longer
courtesy phrase of another category (``不好意思`` inside ``不好意思让您久等了`` is an apology as
well as thanks for waiting); hits of the same category that partly overlap keep the leftmost
(then longest); partly overlapping hits of different categories are both kept.
``overlap="all"`` keeps every verified hit.

Verification is tokenisation *where it matters*: only candidates of entries that need a token
boundary are checked, and only the clause around the hit is segmented (and cached), so the
cost of matching stays close to the cost of the bare automaton scan.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from .lexicon import Lexicon, LexiconEntry
from .normalize import NormalizedText, Normalizer
from .tokenize import JiebaTokenizer, Tokenizer
from .types import Finding, positional_maker

__all__ = ["Hit", "PhraseMatcher"]

Overlap = Literal["longest", "all"]
_CLAUSE_END = re.compile(r"[,.!?;:，。！？；：、\s\"'“”‘’()（）\[\]【】《》<>]")
_WINDOW = 12  # characters of context either side of a hit that jieba sees
#: Phonetic matches of a lexicon form need at least this many syllables (Chinese characters)
#: by kind: a short banned word has too many innocent homophones (有病 / 又病). Matches
#: spelled in Latin letters (有bing, gun) are deliberate and need only one.
PHONETIC_MIN_SYLLABLES = {"required": 2, "cue": 2, "banned": 3}
#: The confidence of a phonetic match (an exact match has 1.0).
PHONETIC_SCORE = 0.8


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


_PLACEHOLDERS = 40  # common characters that start no key but get a root child of their own
_PLACEHOLDER_END = "\uffff"  # a noncharacter: a placeholder key is never a real one


@dataclass(frozen=True)
class _Order:
    """Characters by how often text holds them: ``common`` most frequent first, ``rank``
    their places in it."""

    common: tuple[str, ...]
    rank: dict[str, int]

    @classmethod
    def of(cls, counts: dict[str, int]) -> _Order:
        common = tuple(sorted((ch for ch in counts if len(ch) == 1),
                              key=lambda ch: (-counts[ch], ch)))
        return cls(common, {ch: i for i, ch in enumerate(common)})


@lru_cache(maxsize=1)
def _char_order() -> _Order:
    return _Order.of(char_counts())


@lru_cache(maxsize=1)
def _code_order() -> _Order:
    """:func:`_char_order` for the sound codes: a code counts what its characters count."""
    from .phonetic import sound_coder

    coder = sound_coder()
    counts: dict[str, int] = {}
    for ch, n in char_counts().items():
        code = coder.encode_phrase(ch)
        if code is not None:
            counts[code] = counts.get(code, 0) + n
    return _Order.of(counts)


def _automaton(words: dict[str, Any], order: _Order, placeholder: Callable[[str], Any]) -> Any:
    """An Aho-Corasick automaton of ``words`` (key → value), the keys inserted most frequent
    characters first.

    pyahocorasick keeps a node's children in insertion order and finds the child for a
    character by scanning them; the root has hundreds, so a character that starts no key
    costs a scan of them all. In this order the characters text meets most are near the
    front of the root's children, and the most common characters that start no key get a root
    child anyway, through a placeholder key (the character and U+FFFF) whose value,
    ``placeholder(key)``, the scan loops discard should text ever hold it. Which keys match,
    and where, does not depend on the order (tests/test_matching.py checks it)."""
    import ahocorasick  # one place imports it

    starters = {k[0] for k in words}
    keyed = dict(words)
    for ch in [ch for ch in order.common if ch not in starters][:_PLACEHOLDERS]:
        keyed[ch + _PLACEHOLDER_END] = placeholder(ch + _PLACEHOLDER_END)
    automaton = ahocorasick.Automaton()
    rank, last = order.rank.get, len(order.common)
    # by the first character: the root's children are the ones that matter (a deeper node
    # has a few at most)
    for key in sorted(keyed, key=lambda k: (rank(k[0], last), k)):
        automaton.add_word(key, keyed[key])
    automaton.make_automaton()
    return automaton


@lru_cache(maxsize=1)
def char_counts() -> dict[str, int]:
    """How often each character occurs in service conversations
    (``lexicons/charfreq.tsv``, written by ``tools/build_char_counts.py``); empty, and the
    automata merely slower, if the table is missing."""
    from .lexicon import default_lexicon_dir

    try:
        text = (default_lexicon_dir() / "charfreq.tsv").read_text("utf-8")
    except OSError:
        return {}
    counts = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            ch, _, n = line.partition("\t")
            counts[ch] = int(n)
    return counts


class _Target:
    """What one automaton key points at (precomputed so the scan loop does little work)."""

    __slots__ = ("allow", "category", "entry", "form", "head", "index", "length",
                 "needs_check", "phonetic", "tail", "token_boundary")

    def __init__(self, index: int, entry: LexiconEntry, form: str,
                 allow: list[tuple[str, int]], token_boundary: bool,
                 phonetic: bool = False) -> None:
        self.phonetic = phonetic
        self.index = index
        self.entry = entry
        self.form = form
        self.length = len(form)
        self.category = entry.category
        self.allow = tuple(allow)
        self.token_boundary = token_boundary
        self.needs_check = bool(allow) or token_boundary
        self.head = self.tail = ""  # the fixed parts of a finding's explanation

    @classmethod
    def placeholder(cls, key: str) -> _Target:
        """The value of a placeholder key (see :func:`_automaton`): index -1, and an
        allow-list that rejects it wherever it occurs, so that no hit on it is reported."""
        t = cls.__new__(cls)
        t.phonetic, t.index, t.form, t.length = False, -1, key, len(key)
        t.category, t.allow, t.token_boundary, t.needs_check = "", ((key, 0),), False, True
        t.head = t.tail = ""
        return t


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
        phonetic: bool = True,
    ) -> None:
        if overlap not in ("longest", "all"):
            raise ValueError(f"unknown overlap policy {overlap!r} (expected 'longest' or 'all')")
        self.lexicon = lexicon
        self.normalizer = normalizer or Normalizer()
        self.overlap: Overlap = overlap
        wanted = None if categories is None else set(categories)
        self.entries = tuple(e for e in lexicon.entries
                             if wanted is None or e.category in wanted)
        self._targets: list[_Target] = []
        words: dict[str, tuple[int, bool, _Target]] = {}
        forms_for_jieba: list[str] = []
        for entry in self.entries:
            folded_allow = [self.normalizer.fold_phrase(a) for a in entry.allow]
            for form in entry.forms:
                key = self.normalizer.fold_phrase(form)
                if not key or key in words:
                    continue  # lint reports duplicates; the first entry wins here
                allow = [(a, i) for a in folded_allow for i in _find_all(a, key)]
                target = _Target(len(self._targets), entry, key, allow,
                                 entry.needs_token_boundary(key))
                self._targets.append(target)
                words[key] = (target.length, target.needs_check, target)
                if len(key) > 1:
                    forms_for_jieba.append(key)
        self._automaton = _automaton(
            words, _char_order(), lambda key: (len(key), True, _Target.placeholder(key)))
        self._phonetic_automaton = self._build_phonetic(phonetic) if phonetic else None
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

    def _build_phonetic(self, enabled: bool) -> Any:
        """An automaton over the sound codes of every form (see :mod:`phrasecheck.phonetic`);
        each key points at a phonetic twin of the form's target."""
        from .phonetic import sound_coder

        coder = self._coder = sound_coder()
        self._exact_forms = {t.form: t for t in self._targets}
        words: dict[str, tuple[int, _Target]] = {}
        for t in list(self._targets):
            if t.phonetic:
                continue
            key = coder.encode_phrase(t.form)
            if key is None or key in words:
                continue
            twin = _Target(len(self._targets), t.entry, t.form, [], True, phonetic=True)
            self._targets.append(twin)
            words[key] = (len(key), twin)
        if not words:
            return None
        return _automaton(words, _code_order(),
                          lambda key: (len(key), _Target.placeholder(key)))

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

    def _scan_normalized(self, nt: NormalizedText, codes: str | None = None
                         ) -> list[tuple[int, int, int]]:
        norm = nt.text
        cands: list[tuple[int, int, Any]] = []
        add = cands.append
        verify = self._verify
        for last, (length, check, t) in self._automaton.iter(norm):
            end = last + 1  # the single place inclusive ends become half-open
            if check and not verify(t, norm, end - length, end, nt):
                continue
            add((end - length, -end, t))
        if self._phonetic_automaton is not None:
            self._phonetic_candidates(norm, cands, codes, nt)
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

    def _phonetic_candidates(self, norm: str, cands: list[tuple[int, int, Any]],
                             codes: str | None = None, nt: NormalizedText | None = None
                             ) -> None:
        """Add verified phonetic hits: a span that sounds like a form but is written
        otherwise, on token boundaries, not itself a dictionary word, long enough for its
        kind (or spelled in Latin letters as whole runs). ``codes``: ``norm``'s sound codes
        by :meth:`SoundCoder.codes_many`, when already made."""
        sounds, spans, latin, runs = self._coder.encode_parts(norm, codes)
        exact = self._exact_forms
        for last, (length, t) in self._phonetic_automaton.iter(sounds):  # type: ignore[union-attr]
            a, b = last + 1 - length, last + 1
            # most hits are a form written as it is (its own sound): the exact automaton has
            # it (or its allow-list), so it is skipped first, and so is a placeholder key
            if (spans is None and norm[a:b] in exact) or t.index < 0:
                continue
            if spans is None:
                start, end, spelled = a, b, False
            else:
                start, end = spans[a][0], spans[b - 1][1]
                spelled = any(latin[a:b])  # type: ignore[index]
                if spelled:  # whole runs of letters only: no syllable cut out of a word
                    assert runs is not None
                    if (a > 0 and runs[a - 1] == runs[a] != 0) or (
                            b < len(runs) and runs[b] == runs[b - 1] != 0):
                        continue
            surface = norm[start:end]
            if surface in self._exact_forms:
                continue  # written as a form: the exact automaton has it (or its allow-list)
            if not spelled:
                if length < PHONETIC_MIN_SYLLABLES.get(t.entry.kind, 2):
                    continue
                if not self._is_token_span(norm, start, end, nt) or self._is_word(surface):
                    continue
            cands.append((start, -end, t))

    def _is_token_span(self, norm: str, start: int, end: int,
                       nt: NormalizedText | None = None) -> bool:
        """``norm[start:end]`` starts and ends on jieba token boundaries of its clause, or
        at a pause of the original text (``nt``): folding drops the spaces of ASR text, and
        jieba then reads 好的 四 烧等一下 as 四烧|等|一下."""
        lo = max(0, start - _WINDOW)
        hi = min(len(norm), end + _WINDOW)
        cut = max((m.end() for m in _CLAUSE_END.finditer(norm, lo, start)), default=None)
        if cut is not None:
            lo = cut
        right = _CLAUSE_END.search(norm, end, hi)
        if right is not None:
            hi = right.start()
        cuts = self._boundaries(norm[lo:hi])
        return (((start - lo) in cuts or _pause_at(nt, start))
                and ((end - lo) in cuts or _pause_at(nt, end)))

    def _is_word(self, surface: str) -> bool:
        """The span is a word of the dictionary in its own right (在建 for 再见)."""
        freq = getattr(self.tokenizer, "word_frequency", None)
        return bool(freq is not None and freq(surface) > 0)

    def _verify(self, t: _Target, norm: str, start: int, end: int,
                nt: NormalizedText | None = None) -> bool:
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
            return self._is_token_span(norm, start, end, nt)
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
        return self._findings(text, self.scan(text), turn, role)

    def findings_many(self, texts: Sequence[str], turns: Sequence[int | None] | None = None,
                      *, role: str | None = None) -> list[list[Finding]]:
        """:meth:`findings` of many texts (``turns[i]`` is text ``i``'s turn): the same
        findings, with the sound codes of all texts made in one pass."""
        if turns is not None and len(turns) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(turns)} turns")
        nts = [self.normalizer.normalize(t) for t in texts]
        codes: Sequence[str | None] = (
            self._coder.codes_many([nt.text for nt in nts])
            if self._phonetic_automaton is not None else [None] * len(nts))
        return [self._findings(t, self._scan_normalized(nt, c),
                               None if turns is None else turns[k], role)
                for k, (t, nt, c) in enumerate(zip(texts, nts, codes, strict=True))]

    def _findings(self, text: str, hits: list[tuple[int, int, int]], turn: int | None,
                  role: str | None) -> list[Finding]:
        out = []
        targets = self._targets
        for s, e, i in hits:
            t = targets[i]
            entry = t.entry
            surface = text[s:e]
            if t.phonetic:
                how = (f"“{surface}” sounds like “{t.form}” (phonetic match: an ASR error or a "
                       f"spelling that dodges filters; confidence {PHONETIC_SCORE}); ")
            else:
                how = "" if surface == entry.phrase else f"“{surface}” matches “{t.form}”; "
            explanation = t.head + how + t.tail
            # Finding(code, category, kind, phrase, text, start, end, turn, severity, source,
            # score, suggestion, basis, explanation, role, subcategory): one per hit
            out.append(_make_finding(
                entry.code, entry.category, entry.kind, entry.phrase, surface, s, e, turn,
                entry.severity, "lexicon", PHONETIC_SCORE if t.phonetic else 1.0,
                entry.suggestion, entry.basis, explanation, role, None))
        return out


_make_finding = positional_maker(Finding)


def _find_all(haystack: str, needle: str) -> list[int]:
    out, i = [], haystack.find(needle)
    while i >= 0:
        out.append(i)
        i = haystack.find(needle, i + 1)
    return out


def _resolve_longest(cands: list[tuple[int, int, Any]]) -> list[tuple[int, int, Any]]:
    """Leftmost-longest per category; a hit nested in a longer kept hit is dropped, unless
    both are courtesy phrases of different categories (不好意思 in 不好意思让您久等了 is an
    apology inside thanks for waiting: both were said).

    ``cands`` are ``(start, -end, target)`` sorted by start, longest first. O(n): a sweep
    keeps the kept hit reaching furthest (a later hit ending at or before its end is nested
    in it) and, per category, the end of the last kept hit (a later one starting before it
    overlaps it).
    """
    kept: list[tuple[int, int, Any]] = []
    cover_end = -1
    cover: Any = None
    cat_end: dict[str, int] = {}
    for c in cands:
        s, neg_end, t = c
        e = -neg_end
        if s < cat_end.get(t.category, -1):
            continue
        if e <= cover_end and not (t.entry.kind == "required" == cover.entry.kind
                                   and t.category != cover.category):
            continue
        kept.append(c)
        if e > cover_end:
            cover_end, cover = e, t
        cat_end[t.category] = e
    return kept


def _pause_at(nt: NormalizedText | None, k: int) -> bool:
    """Whether the original text has whitespace (a pause in ASR text) between folded
    characters ``k - 1`` and ``k``, which folding dropped."""
    if nt is None or nt.starts is None or nt.ends is None or not 0 < k < len(nt.text):
        return False
    a, b = int(nt.ends[k - 1]), int(nt.starts[k])
    return any(ch.isspace() for ch in nt.original[a:b])
