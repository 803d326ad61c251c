"""Text normalisation with an offset map back to the original text.

Matching runs on folded text, so that ``不 知 道``, ``不*知*道``, ``ＮＯ``, ``請稍等`` and a word
with a zero-width space inside all meet the same lexicon entry. Findings must still point at
what the person actually wrote, so every normalised character remembers the half-open span
``[starts[i], ends[i])`` of the original text it came from.

Folding steps, in order:

1. NFKC (full-width letters and digits to half-width; compatibility forms); full-width
   punctuation stays as written;
2. lower case;
3. traditional → simplified Chinese with OpenCC (``t2s``). OpenCC is the maintained,
   phrase-aware converter used across the Chinese NLP ecosystem; its C++ core converts tens
   of megabytes a second and the wheel ships its dictionaries, so nothing is downloaded;
4. noise removal: whitespace, zero-width and format characters, and decoration symbols
   (``* # _ - ~ · . | /``) *between two Chinese characters* are dropped; clause punctuation
   (``，。？！；：、``) is kept, because ``不，知道了`` is not ``不知道``; zero-width and
   format characters are dropped everywhere;
5. optionally (off by default) runs of three or more identical characters fold to one.

The common case — simplified, half-width text with no noise — is detected with a few
C-speed scans and returns the original string unchanged with an identity map.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, chain
from typing import Any, ClassVar

from ._unicode import scrub
from .types import positional_maker

__all__ = ["NormalizedText", "Normalizer"]

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
_CJK_RANGES = ((0x3400, 0x4DC0), (0x4E00, 0xA000), (0xF900, 0xFB00), (0x20000, 0x2EBF0))
_ZERO_WIDTH_RANGES = ((0x00AD, 0x00AE), (0x180E, 0x180F), (0x200B, 0x2010), (0x202A, 0x202F),
                      (0x2060, 0x2065), (0x206A, 0x2070), (0xFEFF, 0xFF00))
_ZERO_WIDTH = "".join(chr(c) for lo, hi in _ZERO_WIDTH_RANGES for c in range(lo, hi))
# Decoration people put between characters to dodge filters. Line breaks and clause
# punctuation (, ? ! ; : 、。，？！) are deliberately absent: 不，知道了 is not 不知道.
# The ASCII full stop is included: Chinese text uses it only as decoration.
_NOISE_CHARS = (" \t\u00a0\u3000" + "".join(chr(c) for c in range(0x2000, 0x200B))
                + "\u202f\u205f" + _ZERO_WIDTH
                + "*#_-~·•.|/\\^+=`'\"@$%&<>()[]{}♥♡★☆"
                + "＊＃＿－～．｜／＼＾＋＝｀＇＂＠＄％＆＜＞（）［］｛｝")
# Full-width punctuation (，！？：；…) is kept as written: it only marks clause ends, and
# keeping it avoids a slow path for ordinary Chinese text. Full-width letters and digits
# are still folded by NFKC.
_FW_PUNCT = "\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
_FW_PUNCT_RE = re.compile("[" + _FW_PUNCT + "]")

# One C-speed scan that finds anything which might need folding beyond NFKC/t2s.
_NEEDS_WORK = re.compile("[A-Z" + "".join(re.escape(c) for c in _NOISE_CHARS) + "]")
_REPEATS = re.compile(r"(.)\1{2,}")
_NOISE_CLASS = "[" + "".join(re.escape(c) for c in _NOISE_CHARS) + "]"
# decoration between two CJK characters, captured: re.split gives kept text and cut decoration
# in turn (a match's span is the group's)
_NOISE_BETWEEN_CJK_RE = re.compile("(?<=[" + _CJK + "])(" + _NOISE_CLASS + "+)(?=[" + _CJK + "])")
_ZERO_WIDTH_RE = re.compile("[" + _ZERO_WIDTH + "]+")
_SHORT = 512  # texts up to this length take the per-character path
_TABLES: tuple[Any, Any, Any, Any] | None = None


def _tables() -> tuple[Any, Any, Any, Any]:
    """numpy and code-point lookup tables (noise, zero-width, CJK), built on first use."""
    global _TABLES
    if _TABLES is None:
        import numpy as np

        noise = np.zeros(0x110000, dtype=bool)
        noise[[ord(c) for c in _NOISE_CHARS]] = True
        zero_width = np.zeros(0x110000, dtype=bool)
        zero_width[[ord(c) for c in _ZERO_WIDTH]] = True
        cjk = np.zeros(0x110000, dtype=bool)
        for lo, hi in _CJK_RANGES:
            cjk[lo:hi] = True
        _TABLES = (np, noise, zero_width, cjk)
    return _TABLES


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """Folded text and the map back to the original.

    ``starts``/``ends`` are ``None`` when the folded text is the original (identity map).
    """

    original: str
    text: str
    starts: Sequence[int] | None = None
    ends: Sequence[int] | None = None

    @property
    def is_identity(self) -> bool:
        return self.starts is None

    def span_to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a half-open span of the folded text to a half-open span of the original."""
        if self.starts is None or self.ends is None:
            return start, end
        if end <= start:
            pos = int(self.starts[start]) if start < len(self.starts) else len(self.original)
            return pos, pos
        return int(self.starts[start]), int(self.ends[end - 1])


# NormalizedText(original, text, starts, ends), made for every text matched
_make_normalized = positional_maker(NormalizedText)


class _T2S:
    """Traditional → simplified with OpenCC, built on first use and shared."""

    _lock = threading.Lock()
    _instance: _T2S | None = None

    def __init__(self) -> None:
        import opencc  # imported here: nothing is loaded when phrasecheck is imported

        from ._cache import cached_json, key_of

        self._cc: Any = None  # the converter, made when a text needs converting
        self._convert_lock = threading.Lock()
        # which characters are traditional, and their simplified forms: a conversion of every
        # CJK character (~0.03 s with the converter's set-up), kept in the user cache
        self.char_map: dict[str, str] = cached_json(
            "t2s", key_of(getattr(opencc, "__version__", "?"), unicodedata.unidata_version),
            self._char_map)
        self.traditional = frozenset(self.char_map)
        self._mask: Any = None

    @property
    def traditional_mask(self) -> Any:
        """The long path's numpy mask of traditional characters (built on first use, so
        that short texts never import numpy)."""
        if self._mask is None:  # two threads may both build it; either result is the same
            np = _tables()[0]
            mask = np.zeros(0x10000, dtype=bool)
            mask[[ord(c) for c in self.char_map if ord(c) < 0x10000]] = True
            self._mask = mask
        return self._mask

    def _converter(self) -> Any:
        if self._cc is None:
            import opencc

            self._cc = opencc.OpenCC("t2s")
        return self._cc

    def _char_map(self) -> dict[str, str]:
        ranges = [(0x3400, 0x4DC0), (0x4E00, 0xA000), (0xF900, 0xFB00)]
        chars = [chr(c) for lo, hi in ranges for c in range(lo, hi)]
        with self._convert_lock:
            converted = self._converter().convert("\n".join(chars)).split("\n")
        # GB2312 characters are simplified characters in their own right (乾 in 乾坤):
        # only characters outside it count as traditional.
        return {a: b for a, b in zip(chars, converted)
                if a != b and len(b) == 1 and not _is_gb2312(a)}

    @classmethod
    def get(cls) -> _T2S:
        if cls._instance is None:
            with cls._lock:
                if cls._instance is None:
                    cls._instance = cls()
        return cls._instance

    def convert(self, text: str) -> str:
        """Phrase-aware conversion when it keeps the length, else character by character."""
        with self._convert_lock:  # the OpenCC binding is not documented as thread-safe
            out: str = self._converter().convert(text)
        if len(out) == len(text):
            return out
        return text.translate({ord(k): v for k, v in self.char_map.items() if k in text})


class Normalizer:
    """Fold text for matching, keeping an offset map to the original.

    Instances are immutable and safe to share between threads.
    """

    __slots__ = ("_folded", "fold_case", "fold_repeats", "fold_width", "strip_noise",
                 "to_simplified")
    _OPTIONS = ("fold_case", "fold_repeats", "fold_width", "strip_noise", "to_simplified")
    _FOLDED_MAX = 1 << 16  # lexicon phrases remembered by fold_phrase, at most

    def __init__(
        self,
        *,
        fold_width: bool = True,
        fold_case: bool = True,
        to_simplified: bool = True,
        strip_noise: bool = True,
        fold_repeats: bool = False,
    ) -> None:
        self.fold_width = fold_width
        self.fold_case = fold_case
        self.to_simplified = to_simplified
        self.strip_noise = strip_noise
        self.fold_repeats = fold_repeats
        # fold_phrase's answers: loading a lexicon, checking it and building each role's
        # matcher fold the same few thousand phrases (a cache; the options never change)
        self._folded: dict[str, str] = {}

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._OPTIONS)
        return f"Normalizer({opts})"

    def fold_phrase(self, phrase: str) -> str:
        """Fold a lexicon phrase the same way text is folded (no offsets needed)."""
        got = self._folded.get(phrase)
        if got is None:
            got = self.normalize(phrase).text
            if len(self._folded) < self._FOLDED_MAX:  # bounded; a lost race only refolds
                self._folded[phrase] = got
        return got

    def normalize(self, text: str) -> NormalizedText:
        if not isinstance(text, str):
            raise TypeError(f"expected str, got {type(text).__name__}")
        if self._is_clean(text):
            return _make_normalized(text, text, None, None)
        # a lone surrogate (half an emoji) cannot go through OpenCC or jieba: fold a copy
        # with U+FFFD in its place, one character for one, so the offset map still holds
        work = scrub(text)
        nt = self._normalize_short(work) if len(work) <= _SHORT else self._normalize_long(work)
        if work is not text:
            return NormalizedText(text, nt.text, nt.starts, nt.ends)
        return nt

    def _normalize_short(self, text: str) -> NormalizedText:
        """Character-by-character folding for short texts (chat messages, turns), where
        numpy's per-call overhead would dominate. Gives exactly what the long path gives."""
        table = (_FoldTable.get(self.fold_width, self.fold_case)
                 if self.fold_width or self.fold_case else None)
        moved = False
        starts: list[int] | None = None  # None: character i of out is character i of text
        if table is None:
            out = text
        elif table.odd.search(text) is None:
            # every character folds to exactly one (the common case): str.translate, in C,
            # when any character folds at all (a dict lookup per character: most text has
            # none to fold, and one scan of a character class says so)
            out = text if table.folds.search(text) is None else text.translate(table.one_to_one)
        else:  # a character expands, vanishes or lies beyond the BMP: one by one
            pieces = [table.fold_cached(ch) for ch in text]
            out = "".join(pieces)
            if len(out) != len(text):
                moved = True
                starts = [i for i, p in enumerate(pieces) for _ in p]
        if self.to_simplified and not _is_gb2312(out):
            t2s = _T2S.get()
            if not t2s.traditional.isdisjoint(out):
                out = t2s.convert(out)
        if self.strip_noise:
            los: list[int] | None = None  # the kept runs [lo, hi), once anything is cut
            his: list[int] = []
            if _ZERO_WIDTH_RE.search(out) is None:
                # decoration between CJK characters only (ASR text, a space between words):
                # one split gives the kept runs and the cut ones, in turn
                parts = _NOISE_BETWEEN_CJK_RE.split(out)
                if len(parts) > 1:
                    at = list(accumulate(map(len, parts), initial=0))
                    los, his = at[0::2], at[1::2]
                    out = "".join(parts[0::2])
            else:
                cuts = [m.span() for m in _ZERO_WIDTH_RE.finditer(out)]
                cuts += [m.span() for m in _NOISE_BETWEEN_CJK_RE.finditer(out)]
                keep = _complement(cuts, len(out))
                los, his = [a for a, _ in keep], [b for _, b in keep]
                out = "".join(map(out.__getitem__, map(slice, los, his)))
            if los is not None:
                starts = (list(chain.from_iterable(map(range, los, his))) if starts is None
                          else list(chain.from_iterable(
                              map(starts.__getitem__, map(slice, los, his)))))
                moved = True
        if self.fold_repeats:
            np = _tables()[0]
            arr = np.array(range(len(out)) if starts is None else starts, dtype=np.int64)
            folded, s2, e2 = _fold_repeats(out, arr, arr + 1)
            if folded != out:
                return NormalizedText(text, folded, s2, e2)
        if not moved or starts is None:
            return NormalizedText(text, out)
        # plain lists: cheaper than numpy arrays for a turn-sized text (every character
        # here comes from exactly one original character, so ends are starts + 1)
        return NormalizedText(text, out, starts, list(map((1).__add__, starts)))

    def _normalize_long(self, text: str) -> NormalizedText:
        # The long path works on an array of code points: a few vectorised passes (numpy)
        # instead of a Python loop per character, so long or noisy texts stay fast.
        np = _tables()[0]
        cp = _codepoints(text)
        starts: Any = None  # int64 arrays once characters move
        ends: Any = None
        if self.fold_width or self.fold_case:
            cp, starts = _FoldTable.get(self.fold_width, self.fold_case).apply(cp)
            ends = None if starts is None else starts + 1
        if self.to_simplified:
            t2s = _T2S.get()
            if t2s.traditional_mask[np.minimum(cp, 0xFFFF)].any():
                cp = _codepoints(t2s.convert(_decode(cp)))
        if self.strip_noise:
            cp, starts, ends = _strip_noise(cp, starts, ends)
        out = _decode(cp)
        if self.fold_repeats:
            out, starts, ends = _fold_repeats(out, starts, ends)
        if starts is None or ends is None:
            return NormalizedText(text, out)
        return NormalizedText(text, out, starts, ends)

    def _is_clean(self, text: str) -> bool:
        if self.fold_repeats:
            return False
        if (self.fold_case or self.strip_noise) and _NEEDS_WORK.search(text):
            return False
        if self.fold_width and not _nfkc_stable(text):
            return False
        # GB2312 holds simplified characters only: text that encodes is already simplified.
        return not (self.to_simplified and not _is_gb2312(text))


def _complement(cuts: list[tuple[int, int]], n: int) -> list[tuple[int, int]]:
    """The spans of ``range(n)`` outside every (possibly overlapping) span in ``cuts``."""
    keep, at = [], 0
    for a, b in sorted(cuts):
        if a > at:
            keep.append((at, a))
        at = max(at, b)
    if at < n:
        keep.append((at, n))
    return keep


def _is_gb2312(text: str) -> bool:
    try:
        text.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def _nfkc_stable(text: str) -> bool:
    """True if NFKC leaves ``text`` unchanged, full-width punctuation aside."""
    if unicodedata.is_normalized("NFKC", text):
        return True
    return unicodedata.is_normalized("NFKC", _FW_PUNCT_RE.sub("", text))


def _codepoints(text: str) -> Any:
    np = _tables()[0]
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _decode(cp: Any) -> str:
    return str(cp.tobytes().decode("utf-32-le", "surrogatepass"))


class _FoldTable:
    """NFKC + lower case for every BMP character (built once a process).

    ``changed`` (every BMP character the fold changes, with what it becomes) takes a loop over
    65,536 characters (~0.1 s): it depends only on the settings and on Python's Unicode data,
    so it is kept in the user cache (:mod:`phrasecheck._cache`) under those. The numpy lookup
    tables of the long path are derived from it on first use."""

    _cache: ClassVar[dict[tuple[bool, bool], _FoldTable]] = {}
    _lock = threading.Lock()

    def __init__(self, width: bool, case: bool) -> None:
        from ._cache import cached_json, key_of

        self.width, self.case = width, case
        self.changed: dict[str, str] = cached_json(
            "fold", key_of(unicodedata.unidata_version, width, case), self._changes)
        # the short path's fast case: a str.translate table of the one-to-one folds, and a
        # pattern finding the characters it cannot handle (odd folds, anything beyond the BMP)
        self.one_to_one = {ord(ch): f for ch, f in self.changed.items() if len(f) == 1}
        odd = [ch for ch, f in self.changed.items() if len(f) != 1]
        self.odd = re.compile("[" + "".join(re.escape(ch) for ch in odd)
                              + "\U00010000-\U0010FFFF]")
        # any character str.translate would change (never matching, if none would)
        self.folds = re.compile("[" + "".join(re.escape(chr(c)) for c in sorted(self.one_to_one))
                                + "]" if self.one_to_one else "(?!)")
        self._arrays: tuple[Any, Any, dict[int, Any]] | None = None

    def _changes(self) -> dict[str, str]:
        changed = {}
        for c in range(0x10000):
            if 0xD800 <= c < 0xE000:
                continue
            ch = chr(c)
            folded = self.fold(ch)
            if folded != ch:
                changed[ch] = folded
        return changed

    def arrays(self) -> tuple[Any, Any, dict[int, Any]]:
        """The long path's tables: the folded code point and the folded length of every BMP
        character, and the code points of those that do not fold to exactly one."""
        if self._arrays is None:  # two threads may both build it; either result is the same
            np = _tables()[0]
            lut = np.arange(0x10000, dtype=np.uint32)
            lengths = np.ones(0x10000, dtype=np.int64)
            expand: dict[int, Any] = {}
            for ch, folded in self.changed.items():
                c = ord(ch)
                if len(folded) == 1:
                    lut[c] = ord(folded)
                else:
                    lengths[c] = len(folded)
                    expand[c] = _codepoints(folded)
            self._arrays = (lut, lengths, expand)
        return self._arrays

    @classmethod
    def get(cls, width: bool, case: bool) -> _FoldTable:
        key = (width, case)
        table = cls._cache.get(key)
        if table is None:
            with cls._lock:
                table = cls._cache.get(key)
                if table is None:
                    table = cls._cache[key] = cls(width, case)
        return table

    def fold_cached(self, ch: str) -> str:
        folded = self.changed.get(ch)
        if folded is not None:
            return folded
        if ch > "\uffff":
            return self.fold(ch)
        return ch

    def fold(self, ch: str) -> str:
        out = ch
        if self.width and not _FW_PUNCT_RE.match(ch):
            out = unicodedata.normalize("NFKC", out)
        if self.case:
            out = out.lower()
        return out

    def apply(self, cp: Any) -> tuple[Any, Any]:
        """Folded code points and, when characters expand or vanish, the start offsets."""
        np = _tables()[0]
        astral = cp > 0xFFFF
        has_astral = bool(astral.any())
        small = np.where(astral, 0, cp) if has_astral else cp
        lut, all_lengths, expand = self.arrays()
        lengths = all_lengths[small]
        mapped = lut[small]
        if has_astral:  # rare: fold characters beyond the BMP one by one
            expand = dict(expand)
            for i in np.nonzero(astral)[0].tolist():
                c = int(cp[i])
                folded = self.fold(chr(c))
                if len(folded) == 1:
                    mapped[i] = ord(folded)
                else:
                    lengths[i] = len(folded)
                    expand[c] = _codepoints(folded)
        resized = np.nonzero(lengths != 1)[0]
        if len(resized) == 0:
            return mapped, None
        pieces = []
        prev = 0
        for i in resized.tolist():
            pieces.append(mapped[prev:i])
            pieces.append(expand[int(cp[i])])
            prev = i + 1
        pieces.append(mapped[prev:])
        starts = np.repeat(np.arange(len(cp), dtype=np.int64), lengths)
        return np.concatenate(pieces).astype(np.uint32), starts


def _strip_noise(cp: Any, starts: Any, ends: Any) -> tuple[Any, Any, Any]:
    """Drop zero-width characters anywhere and noise runs between two CJK characters."""
    np, noise_t, zero_width_t, cjk_t = _tables()
    noise = noise_t[cp]
    if not noise.any():
        return cp, starts, ends
    n = len(cp)
    # runs of noise: [run_starts[i], run_ends[i]); removable when CJK on both sides
    edges = np.diff(np.concatenate(([False], noise, [False])).view(np.int8))
    run_starts = np.flatnonzero(edges == 1)
    run_ends = np.flatnonzero(edges == -1)
    inner = (run_starts > 0) & (run_ends < n)
    run_starts, run_ends = run_starts[inner], run_ends[inner]
    between = cjk_t[cp[run_starts - 1]] & cjk_t[cp[run_ends]]
    delta = np.zeros(n + 1, dtype=np.int32)
    delta[run_starts[between]] += 1
    delta[run_ends[between]] -= 1
    remove = (np.cumsum(delta[:n]) > 0) | zero_width_t[cp]
    if not remove.any():
        return cp, starts, ends
    keep = ~remove
    if starts is None or ends is None:
        new_starts = np.flatnonzero(keep)
        return cp[keep], new_starts, new_starts + 1
    return cp[keep], starts[keep], ends[keep]


def _fold_repeats(text: str, starts: Any, ends: Any) -> tuple[str, Any, Any]:
    """Fold runs of 3+ identical characters to one; the kept character spans the whole run."""
    runs = [m.span() for m in _REPEATS.finditer(text)]
    if not runs:
        return text, starts, ends
    if starts is None or ends is None:
        starts = list(range(len(text)))
        ends = list(range(1, len(text) + 1))
    else:
        starts, ends = [int(x) for x in starts], [int(x) for x in ends]
    out: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    pos = 0
    for a, b in runs:
        out.append(text[pos:a])
        new_starts.extend(starts[pos:a])
        new_ends.extend(ends[pos:a])
        out.append(text[a])
        new_starts.append(starts[a])
        new_ends.append(ends[b - 1])
        pos = b
    out.append(text[pos:])
    new_starts.extend(starts[pos:])
    new_ends.extend(ends[pos:])
    np = _tables()[0]
    return "".join(out), np.array(new_starts, dtype=np.int64), np.array(new_ends, dtype=np.int64)
