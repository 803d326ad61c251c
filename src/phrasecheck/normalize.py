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
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["NormalizedText", "Normalizer"]

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
_ZERO_WIDTH = "\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u206a-\u206f\ufeff"
# Decoration people put between characters to dodge filters (after NFKC, so full-width
# forms are already half-width). Clause punctuation , . ? ! ; : 、。 is deliberately absent
# except the ASCII full stop, which Chinese text uses only as decoration.
_NOISE = (r"\s" + _ZERO_WIDTH + r"*#_\-~·•.|/\\^+=`'\"@$%&<>()\[\]{}♥♡★☆"
          "＊＃＿－～．｜／＼＾＋＝｀＇＂＠＄％＆＜＞（）［］｛｝")
# Full-width punctuation (，！？：；…) is kept as written: it only marks clause ends, and
# keeping it avoids a slow path for ordinary Chinese text. Full-width letters and digits
# are still folded by NFKC.
_FW_PUNCT = "\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
_FW_PUNCT_RE = re.compile("[" + _FW_PUNCT + "]")

# One C-speed scan that finds anything which might need folding beyond NFKC/t2s.
_NEEDS_WORK = re.compile(r"[A-Z" + _NOISE + r"]")
_NOISE_BETWEEN_CJK = re.compile(
    r"(?<=[" + _CJK + r"])[" + _NOISE + r"]+(?=[" + _CJK + r"])"
)
_ZERO_WIDTH_RE = re.compile(r"[" + _ZERO_WIDTH + r"]+")
_REPEATS = re.compile(r"(.)\1{2,}")


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
            pos = self.starts[start] if start < len(self.starts) else len(self.original)
            return pos, pos
        return self.starts[start], self.ends[end - 1]


class _T2S:
    """Traditional → simplified with OpenCC, built on first use and shared."""

    _lock = threading.Lock()
    _instance: _T2S | None = None

    def __init__(self) -> None:
        import opencc  # imported here: nothing is loaded when phrasecheck is imported

        self._cc: Any = opencc.OpenCC("t2s")
        self._convert_lock = threading.Lock()
        ranges = [(0x3400, 0x4DC0), (0x4E00, 0xA000), (0xF900, 0xFB00)]
        chars = [chr(c) for lo, hi in ranges for c in range(lo, hi)]
        converted = self._cc.convert("\n".join(chars)).split("\n")
        self.char_map: dict[str, str] = {
            a: b for a, b in zip(chars, converted) if a != b and len(b) == 1
        }
        self.traditional = frozenset(self.char_map)

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
            out: str = self._cc.convert(text)
        if len(out) == len(text):
            return out
        return text.translate({ord(k): v for k, v in self.char_map.items() if k in text})


class Normalizer:
    """Fold text for matching, keeping an offset map to the original.

    Instances are immutable and safe to share between threads.
    """

    __slots__ = ("fold_case", "fold_repeats", "fold_width", "strip_noise", "to_simplified")

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

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"Normalizer({opts})"

    def fold_phrase(self, phrase: str) -> str:
        """Fold a lexicon phrase the same way text is folded (no offsets needed)."""
        return self.normalize(phrase).text

    def normalize(self, text: str) -> NormalizedText:
        if not isinstance(text, str):
            raise TypeError(f"expected str, got {type(text).__name__}")
        if self._is_clean(text):
            return NormalizedText(text, text)

        out = text
        starts: list[int] | None = None
        ends: list[int] | None = None

        if self.fold_width and not _nfkc_stable(out):
            out, starts, ends = _nfkc_with_offsets(out)
        if self.fold_case:
            lowered = out.lower()
            if len(lowered) == len(out):
                out = lowered
            else:  # e.g. 'İ' lowers to two characters: fold one character at a time
                out = "".join(c if len(c.lower()) != 1 else c.lower() for c in out)
        if self.to_simplified and not _is_gb2312(out):
            t2s = _T2S.get()
            if not t2s.traditional.isdisjoint(out):
                out = t2s.convert(out)
        if self.strip_noise:
            out, starts, ends = _remove(out, starts, ends, _ZERO_WIDTH_RE)
            out, starts, ends = _remove(out, starts, ends, _NOISE_BETWEEN_CJK)
        if self.fold_repeats:
            out, starts, ends = _fold_repeats(out, starts, ends)

        if starts is None or ends is None:
            return NormalizedText(text, out)
        return NormalizedText(text, out, array("q", starts), array("q", ends))

    def _is_clean(self, text: str) -> bool:
        if self.fold_repeats:
            return False
        if (self.fold_case or self.strip_noise) and _NEEDS_WORK.search(text):
            return False
        if self.fold_width and not _nfkc_stable(text):
            return False
        # GB2312 holds simplified characters only: text that encodes is already simplified.
        return not (self.to_simplified and not _is_gb2312(text))


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


def _nfkc_with_offsets(text: str) -> tuple[str, list[int], list[int]]:
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for i, ch in enumerate(text):
        folded = ch if _FW_PUNCT_RE.match(ch) else unicodedata.normalize("NFKC", ch)
        pieces.append(folded)
        n = len(folded)
        if n:
            starts.extend([i] * n)
            ends.extend([i + 1] * n)
    return "".join(pieces), starts, ends


def _remove(
    text: str, starts: list[int] | None, ends: list[int] | None, pattern: re.Pattern[str]
) -> tuple[str, list[int] | None, list[int] | None]:
    """Drop every match of ``pattern``, composing the offset map."""
    cuts = [m.span() for m in pattern.finditer(text)]
    if not cuts:
        return text, starts, ends
    keep: list[tuple[int, int]] = []
    pos = 0
    for a, b in cuts:
        if a > pos:
            keep.append((pos, a))
        pos = b
    if pos < len(text):
        keep.append((pos, len(text)))
    new_text = "".join(text[a:b] for a, b in keep)
    new_starts: list[int] = []
    new_ends: list[int] = []
    for a, b in keep:
        if starts is None or ends is None:
            new_starts.extend(range(a, b))
            new_ends.extend(range(a + 1, b + 1))
        else:
            new_starts.extend(starts[a:b])
            new_ends.extend(ends[a:b])
    return new_text, new_starts, new_ends


def _fold_repeats(
    text: str, starts: list[int] | None, ends: list[int] | None
) -> tuple[str, list[int] | None, list[int] | None]:
    """Fold runs of 3+ identical characters to one; the kept character spans the whole run."""
    runs = [m.span() for m in _REPEATS.finditer(text)]
    if not runs:
        return text, starts, ends
    if starts is None or ends is None:
        starts = list(range(len(text)))
        ends = list(range(1, len(text) + 1))
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
    return "".join(out), new_starts, new_ends
