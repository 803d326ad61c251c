"""Sound codes for phonetic matching: 宁好 sounds like 您好, 神金病 like 神经病, 有bing like 有病.

ASR engines write what they hear (宁好, 烧等, 头诉, 不知到, 耐新), and people who want to get past a
filter write what it sounds like (神金病, 有bing, 弱zhi, gun). The matcher therefore looks for
lexicon phrases a second time in a string of *sound codes*: every Chinese character becomes
one private-use character standing for its toneless syllable, folded for the confusions of
many dialects and ASR engines (``zh ch sh`` = ``z c s``, ``ing eng`` = ``in en``); digits and
spoken digit names meet (幺二三四五 = 12345); pinyin written in Latin letters becomes the same
codes when the whole run of letters spells syllables (``bing``, ``zhi``, ``gun``); fillers
(嗯, 呃) between syllables are skipped.

The syllable of each character comes from ``lexicons/pinyin.tsv``, generated from pypinyin by
``tools/build_pinyin_table.py`` (one reading per character, its most common). This module
only reads that table; it is loaded once, on first use.

:meth:`SoundCoder.encode` returns the codes and, when they do not line up one to one with
the text (Latin syllables, skipped fillers), the text span of every code.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.abc import Traversable
from typing import Any

from ._unicode import code_points, translate_bmp

__all__ = ["Encoded", "SoundCoder", "sound_coder"]

_BASE = 0xF0000  # Supplementary Private Use Area-A: never in the lexicon, rare in text
_DIGITS = ("ling", "yi", "er", "san", "si", "wu", "liu", "qi", "ba", "jiu")
_EXTRA = {"幺": "yi", "〇": "ling", "两": "liang"}
_FILLERS = "嗯呃"
_SLOW = re.compile("[a-z" + _FILLERS + "]")
_SLOW_RUN = re.compile("[a-z]+|[" + _FILLERS + "]")  # what encode() takes apart, in order


@dataclass(frozen=True, slots=True)
class Encoded:
    """Sound codes of a text. ``spans`` is ``None`` when code ``i`` stands for character
    ``i`` of the text; otherwise ``spans[i]`` is the text span of code ``i`` and
    ``latin[i]`` says whether it was spelled in Latin letters (then ``runs[i]`` numbers the
    run of letters it belongs to)."""

    codes: str
    spans: list[tuple[int, int]] | None = None
    latin: list[bool] | None = None
    runs: list[int] | None = None


class SoundCoder:
    """Text → sound codes. Immutable and thread-safe once built."""

    def __init__(self, table: str) -> None:
        syllables: dict[str, int] = {}
        mapping: dict[int, str] = {}
        for line in table.splitlines():
            if not line or line.startswith("#"):
                continue
            syllable, _, chars = line.partition("\t")
            code = chr(_BASE + syllables.setdefault(syllable, len(syllables)))
            for ch in chars:
                mapping[ord(ch)] = code
        for ch, syl in (*zip("0123456789", _DIGITS), *_EXTRA.items()):
            mapping[ord(ch)] = chr(_BASE + syllables.setdefault(_fold_latin(syl),
                                                                len(syllables)))
        self._table = mapping
        self._syllables = syllables
        self._longest = max(map(len, syllables))
        self._latin_cache: dict[str, list[str] | None] = {}
        if any(cp > 0xFFFF for cp in mapping):
            raise ValueError("the pinyin table has characters beyond the BMP")
        self._lut: Any = None  # codes_many's lookup array, built on first use

    def code_of_syllable(self, syllable: str) -> str | None:
        i = self._syllables.get(syllable)
        return None if i is None else chr(_BASE + i)

    def encode_phrase(self, phrase: str) -> str | None:
        """Codes of a lexicon phrase, or ``None`` when a character has no sound."""
        codes = phrase.translate(self._table)
        if any(ord(c) < _BASE for c in codes):
            return None
        return codes

    def _split_latin(self, run: str) -> list[str] | None:
        """A run of Latin letters as syllables (fewest syllables), or ``None``; remembered
        for the short runs that recur (ok, app, nmd), never for long ones."""
        cache = self._latin_cache
        if run in cache:
            return cache[run]
        got = self._split_latin_uncached(run)
        if len(run) <= 16 and len(cache) < 4096:  # bounded; a lost race only recomputes
            cache[run] = got
        return got

    def _split_latin_uncached(self, run: str) -> list[str] | None:
        n = len(run)
        best: list[list[str] | None] = [None] * (n + 1)
        best[0] = []
        for i in range(n):
            if best[i] is None:
                continue
            for j in range(min(n, i + self._longest), i, -1):
                code = self.code_of_syllable(_fold_latin(run[i:j]))
                prev = best[i]
                if code is not None and prev is not None and (
                        best[j] is None or len(prev) + 1 < len(best[j])):  # type: ignore[arg-type]
                    best[j] = [*prev, code]
        return best[n]

    def codes_many(self, texts: Sequence[str]) -> list[str]:
        """``text.translate(table)`` of each text, for many texts at once: one numpy lookup
        over their code points instead of a dictionary lookup per character (the same
        strings; what :meth:`encode` starts from)."""
        if len(texts) < 8:
            return [t.translate(self._table) for t in texts]
        import numpy as np

        lut = self._lut
        if lut is None:  # every character with a sound is in the BMP (checked at build)
            lut = np.arange(0x10000, dtype=np.uint32)
            for cp, code in self._table.items():
                lut[cp] = ord(code)
            self._lut = lut
        coded = translate_bmp(code_points("".join(texts)), lut)
        res, at = [], 0
        for t in texts:
            n = len(t)
            res.append(coded[at:at + n])
            at += n
        return res

    def encode(self, text: str, codes: str | None = None) -> Encoded:
        """Codes of (normalised) ``text``; characters without a sound stay as they are.
        ``codes``: ``text``'s translation by :meth:`codes_many`, when already made."""
        return Encoded(*self.encode_parts(text, codes))

    def encode_parts(self, text: str, codes: str | None = None
                     ) -> tuple[str, list[tuple[int, int]] | None, list[bool] | None,
                                list[int] | None]:
        """:meth:`encode` as a plain tuple ``(codes, spans, latin, runs)``: the matcher's
        per-text call, without a result object for the common text that needs none."""
        if codes is None:
            codes = text.translate(self._table)
        if _SLOW.search(text) is None:
            return codes, None, None, None
        return self._encode_slow(text, codes)

    def _encode_slow(self, text: str, codes: str
                     ) -> tuple[str, list[tuple[int, int]], list[bool], list[int]]:
        """:meth:`encode_parts` of a text holding fillers or Latin letters."""
        out: list[str] = []
        spans: list[tuple[int, int]] = []
        latin: list[bool] = []
        runs: list[int] = []
        n, at, run = len(text), 0, 0

        def plain(a: int, b: int) -> None:  # characters a..b, one code each, in C-level steps
            if a < b:
                out.append(codes[a:b])
                spans.extend(zip(range(a, b), range(a + 1, b + 1)))
                latin.extend([False] * (b - a))
                runs.extend([0] * (b - a))

        for m in _SLOW_RUN.finditer(text):
            i, end = m.span()
            if end - i == 1 and text[i] in _FILLERS:
                if 0 < i < n - 1:  # a filler between syllables is skipped
                    plain(at, i)
                    at = end
                continue
            parts = self._split_latin(m.group())
            if parts is None:  # letters that spell no syllables stay characters
                continue
            plain(at, i)
            run += 1
            step = (end - i) / len(parts)
            for k, c in enumerate(parts):  # each syllable's letters, roughly
                a = i + round(k * step)
                b = end if k == len(parts) - 1 else i + round((k + 1) * step)
                out.append(c)
                spans.append((a, b))
                latin.append(True)
                runs.append(run)
            at = end
        plain(at, n)
        return "".join(out), spans, latin, runs


def _fold_latin(s: str) -> str:
    from_v = s.replace("u:", "v")
    for a, b in (("zh", "z"), ("ch", "c"), ("sh", "s")):
        if from_v.startswith(a):
            from_v = b + from_v[len(a):]
            break
    if from_v.endswith("ing"):
        return from_v[:-3] + "in"
    if from_v.endswith("eng"):
        return from_v[:-3] + "en"
    return from_v


_lock = threading.Lock()
_coder: SoundCoder | None = None


def sound_coder(table: Traversable | None = None) -> SoundCoder:
    """The shared coder for the bundled table (or a coder for ``table``)."""
    global _coder
    if table is not None:
        return SoundCoder(table.read_text(encoding="utf-8"))
    if _coder is None:
        with _lock:
            if _coder is None:
                from .lexicon import default_lexicon_dir

                _coder = SoundCoder((default_lexicon_dir() / "pinyin.tsv")
                                    .read_text(encoding="utf-8"))
    return _coder
