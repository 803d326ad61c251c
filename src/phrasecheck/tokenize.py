"""Tokenisation: a small protocol and a jieba implementation that owns its own dictionary.

phrasecheck never touches ``jieba.dt`` (the global tokenizer other code in the process may be
configured differently) and never loads jieba at import time: the dictionary loads on first
use, its cache goes to phrasecheck's user cache directory, per jieba version
(:mod:`phrasecheck._cache`; the system temporary directory when there is none, never the
working directory), and jieba's "Building prefix dict…" chatter is kept off the user's
terminal.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

_SURROGATE = re.compile("[\ud800-\udfff]")

__all__ = ["JiebaTokenizer", "Tokenizer"]


@runtime_checkable
class Tokenizer(Protocol):
    """Anything that splits text into ``(word, start, end)`` with half-open offsets."""

    def tokenize(self, text: str) -> list[tuple[str, int, int]]: ...

    def lcut(self, text: str) -> list[str]: ...


class JiebaTokenizer:
    """A thread-safe, lazily loaded ``jieba.Tokenizer``.

    ``words`` are added to the dictionary (phrasecheck adds its lexicon phrases so they are
    kept whole); ``dictionary`` replaces jieba's main dictionary.

    ``backend="auto"`` runs jieba's algorithm and default dictionary in rjieba (the Rust port,
    jieba-rs) when it is installed and the configuration is one it reproduces exactly —
    default dictionary, no added words, no HMM: same tokens (checked on every text of our
    corpora and by a property test), about ten times faster. Otherwise, and with
    ``backend="jieba"`` (the default), it is jieba itself.
    """

    def __init__(
        self,
        *,
        dictionary: str | os.PathLike[str] | None = None,
        words: Iterable[str] = (),
        hmm: bool = True,
        cache_dir: str | os.PathLike[str] | None = None,
        backend: str = "jieba",
    ) -> None:
        if backend not in ("jieba", "auto"):
            raise ValueError(f"unknown backend {backend!r} (expected 'jieba' or 'auto')")
        self._dictionary = None if dictionary is None else os.fspath(dictionary)
        self._words = tuple(dict.fromkeys(w for w in words if w))
        self._hmm = hmm
        self._cache_dir = os.fspath(cache_dir) if cache_dir else None
        self._jieba: Any = None
        self._lock = threading.Lock()
        self._fast: Any = None
        if backend == "auto" and dictionary is None and not self._words and not hmm:
            try:
                import rjieba
            except ImportError:
                pass
            else:
                self._fast = rjieba
        self.boundaries = lru_cache(maxsize=65536)(self._boundaries)

    def __repr__(self) -> str:
        state = "loaded" if self._jieba is not None else "not loaded"
        return f"JiebaTokenizer(words={len(self._words)}, hmm={self._hmm}, {state})"

    @property
    def loaded(self) -> bool:
        return self._jieba is not None

    def load(self) -> JiebaTokenizer:
        """Load the dictionary now (otherwise it loads on first use)."""
        if self._fast is not None:
            self._fast.cut("您好", False)
        else:
            self._get()
        return self

    def _get(self) -> Any:
        tk = self._jieba
        if tk is not None:
            return tk
        with self._lock:
            if self._jieba is None:
                self._jieba = self._build()
            return self._jieba

    def _build(self) -> Any:
        import jieba  # imported on first use only: jieba configures logging when imported

        logger = logging.getLogger("jieba")
        previous = logger.level
        logger.setLevel(logging.WARNING)
        try:
            tk = (jieba.Tokenizer(self._dictionary) if self._dictionary
                  else jieba.Tokenizer())
            tk.tmp_dir = self._cache_dir or _jieba_cache_dir(jieba.__version__)
            tk.initialize()
            for w in self._words:
                tk.add_word(w)
        finally:
            logger.setLevel(previous)
        return tk

    def _fast_cut(self, text: str) -> list[str]:
        try:
            return list(self._fast.cut(text, False))
        except UnicodeEncodeError:
            # a lone surrogate cannot cross into Rust as UTF-8: cut a copy with U+FFFD in
            # its place (one character for one, so lengths hold; jieba treats both as a
            # lone symbol) and return the original's slices
            words = self._fast.cut(_SURROGATE.sub("\ufffd", text), False)
            out, pos = [], 0
            for w in words:
                out.append(text[pos:pos + len(w)])
                pos += len(w)
            return out

    @property
    def backend(self) -> str:
        return "rjieba" if self._fast is not None else "jieba"

    def tokenize(self, text: str) -> list[tuple[str, int, int]]:
        if self._fast is not None:
            out, pos = [], 0
            for w in self._fast_cut(text):
                out.append((w, pos, pos + len(w)))
                pos += len(w)
            return out
        return list(self._get().tokenize(text, HMM=self._hmm))

    def lcut(self, text: str) -> list[str]:
        if self._fast is not None:
            return self._fast_cut(text)
        return list(self._get().lcut(text, HMM=self._hmm))

    def word_frequency(self, word: str) -> int:
        """How often jieba's dictionary counts ``word`` as a word (0: not a word)."""
        return int(self._get().FREQ.get(word, 0))

    def _boundaries(self, text: str) -> frozenset[int]:
        """Offsets in ``text`` where a token starts or ends (cached per clause)."""
        cuts = {0, len(text)}
        pos = 0
        words = self._fast_cut(text) if self._fast is not None else self._get().cut(
            text, HMM=self._hmm)
        for word in words:
            pos += len(word)
            cuts.add(pos)
        return frozenset(cuts)


def _jieba_cache_dir(version: str) -> str:
    """Where jieba keeps its dictionary cache: phrasecheck's user cache, one folder per jieba
    version; the system temporary directory when there is no user cache."""
    from ._cache import cache_dir

    root = cache_dir()
    if root is not None:
        path = root / f"jieba-{version}"
        try:
            path.mkdir(exist_ok=True, mode=0o700)
        except OSError:
            pass
        else:
            return str(path)
    return tempfile.gettempdir()
