"""Features of a reply: the normalisation and the character and jieba-word n-grams that both
the scikit-learn estimator (:mod:`.estimator`) and the exported model (:mod:`.model`) use.

Both must produce the same feature strings, so they live here once. jieba is loaded on first
use of a word feature (the classifier's own tokenizer, never ``jieba.dt``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import repeat
from operator import add
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..tokenize import JiebaTokenizer

_WHITESPACE = re.compile(r"\s+")
_FEATURE_KINDS = ("char", "word")


def normalize_reply(text: str) -> str:
    """Fold a reply for the features: NFKC (full-width → half-width), lower case, and every
    whitespace run to one space. Deliberately cheap and free of dictionaries."""
    return _WHITESPACE.sub(" ", _nfkc(text).lower()).strip()


@lru_cache(maxsize=1)
def _nfkc_table() -> dict[int, str]:
    """Every BMP character that NFKC changes, mapped to its NFKC form (built once, ~30 ms)."""
    table = {}
    for c in range(0x10000):
        if 0xD800 <= c < 0xE000:
            continue
        ch = chr(c)
        folded = unicodedata.normalize("NFKC", ch)
        if folded != ch:
            table[c] = folded
    return table


def _nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, faster on typical chat text.

    Chinese text nearly always holds a full-width character (，？！：), which sends the whole
    text down NFKC's slow path. Replacing each character by its own NFKC form first changes
    nothing NFKC would produce (a character and its NFKC form decompose alike), and usually
    leaves text that passes NFKC's quick check; only text that still does not is normalised
    in full."""
    out = text.translate(_nfkc_table())
    if unicodedata.is_normalized("NFKC", out):
        return out
    return unicodedata.normalize("NFKC", out)


@lru_cache(maxsize=1)
def _nfkc_arrays() -> tuple[Any, Any]:
    """:func:`_nfkc_table` as a numpy lookup of the characters it maps to one character,
    and a mask of those it maps to several (or none)."""
    import numpy as np

    lut = np.arange(0x10000, dtype=np.uint32)
    several = np.zeros(0x10000, dtype=bool)
    for c, folded in _nfkc_table().items():
        if len(folded) == 1:
            lut[c] = ord(folded)
        else:
            several[c] = True
    return lut, several


def _nfkc_batch(text: str) -> str:
    """:func:`_nfkc` of a long text (a batch joined): the table's one-to-one part applied
    with one numpy lookup instead of a dictionary lookup per character, then the few
    characters NFKC expands (… → ...) spliced in from the table. The same string."""
    if len(text) < 256:
        return _nfkc(text)
    import numpy as np

    from .._unicode import code_points, translate_bmp

    lut, several = _nfkc_arrays()
    cps = code_points(text)
    out = translate_bmp(cps, lut)  # an expanding character is left as it is (lut[c] == c)
    expand = np.flatnonzero(several[cps & 0xFFFF] & (cps < 0x10000)).tolist()
    if expand:
        table = _nfkc_table()
        pieces, at = [], 0
        for i in expand:
            pieces.append(out[at:i])
            pieces.append(table[ord(out[i])])
            at = i + 1
        pieces.append(out[at:])
        out = "".join(pieces)
    if unicodedata.is_normalized("NFKC", out):
        return out
    return unicodedata.normalize("NFKC", out)


# joins a batch for _normalize_replies: private use, so never produced by NFKC, not
# whitespace, and neither cased nor case-ignorable (lower()'s final-sigma rule stops at it);
# a starter that composes with nothing (NFKC of the join is the join of the NFKCs)
_BATCH_SEP = "\ue000"


def _normalize_replies(texts: Sequence[str]) -> list[str]:
    """``[normalize_reply(t) for t in texts]``, in one pass over the joined texts."""
    joined = _BATCH_SEP.join(texts)
    if joined.count(_BATCH_SEP) != len(texts) - 1:  # a text contains the separator
        return [normalize_reply(t) for t in texts]
    folded = _WHITESPACE.sub(" ", _nfkc_batch(joined).lower())
    return [t.strip() for t in folded.split(_BATCH_SEP)]


def char_ngrams(text: str, lo: int, hi: int) -> list[str]:
    """Character n-grams of the normalised text, ``lo <= n <= hi``."""
    return _char_ngrams(normalize_reply(text), lo, hi)


def _char_ngrams(t: str, lo: int, hi: int) -> list[str]:
    # n-grams grow by one character a step; map(add, ...) builds them in C, about twice as
    # fast as slicing in a comprehension, in the same order (n ascending, then position)
    out: list[str] = []
    grams: Iterable[str] = t
    for n in range(1, hi + 1):
        if n > 1:
            grams = list(map(add, grams, t[n - 1:]))
        elif hi > 1:
            grams = list(t)
        if n >= lo:
            out.extend(grams)
    return out


@lru_cache(maxsize=1)
def _feature_tokenizer() -> JiebaTokenizer:
    """The classifier's own jieba tokenizer (jieba's default dictionary, no HMM), created and
    loaded on first use; never ``jieba.dt``."""
    from ..tokenize import JiebaTokenizer

    return JiebaTokenizer(hmm=False, backend="auto")


def word_ngrams(text: str, lo: int, hi: int) -> list[str]:
    """jieba word n-grams of the normalised text, spaces dropped, joined with ``_``."""
    return _word_ngrams(normalize_reply(text), lo, hi)


def _word_ngrams(t: str, lo: int, hi: int) -> list[str]:
    words = [w for w in _feature_tokenizer().lcut(t) if not w.isspace()]
    if lo == hi == 1:
        return words
    out: list[str] = []
    grams: list[str] = words
    for n in range(1, hi + 1):
        if n > 1:  # "a_b_c" is "a_b" + "_" + "c"
            grams = list(map(add, map(add, grams, repeat("_")), words[n - 1:]))
        if n >= lo:
            out.extend(grams)
    return out


def featurize(kind: str, text: str, ngram_range: Sequence[int]) -> list[str]:
    """The feature strings of one block (``char`` or ``word``) for one text."""
    return _featurize(kind, normalize_reply(text), ngram_range)


def _featurize(kind: str, norm: str, ngram_range: Sequence[int]) -> list[str]:
    lo, hi = int(ngram_range[0]), int(ngram_range[1])
    if kind == "char":
        return _char_ngrams(norm, lo, hi)
    if kind == "word":
        return _word_ngrams(norm, lo, hi)
    raise ValueError(f"unknown feature kind {kind!r} (available: {', '.join(_FEATURE_KINDS)})")


class _Analyzer:
    """A picklable, stateless analyzer callable for ``TfidfVectorizer(analyzer=...)``."""

    def __init__(self, kind: str, ngram_range: tuple[int, int]) -> None:
        self.kind = kind
        self.ngram_range = ngram_range

    def __call__(self, text: str) -> list[str]:
        return featurize(self.kind, text, self.ngram_range)

    def __repr__(self) -> str:
        return f"_Analyzer({self.kind!r}, {self.ngram_range!r})"


def _is_unigram(kind: str, term: str) -> bool:
    """Whether a feature string is one character (``char``) or one jieba word (``word``:
    n-grams are joined with ``_``, so a unigram has none, unless it is ``_`` itself)."""
    if kind == "char":
        return len(term) == 1
    return "_" not in term or set(term) == {"_"}


def _blocks_of(features: str) -> list[str]:
    kinds = [k.strip() for k in features.split("+") if k.strip()]
    bad = [k for k in kinds if k not in _FEATURE_KINDS]
    if not kinds or bad or len(set(kinds)) != len(kinds):
        raise ValueError(f"features={features!r}: expected 'char', 'word' or 'char+word'")
    return kinds


def _texts(X: Iterable[str]) -> list[str]:
    """The texts of ``X`` as a list (the estimator and the model take the same input): a
    single ``str`` or an item that is not a ``str`` is a ``TypeError``."""
    if isinstance(X, str):
        raise TypeError("expected a list of texts, got a single str")
    texts = [x for x in X]
    for x in texts:
        if not isinstance(x, str):
            raise TypeError(f"expected texts (str), got {type(x).__name__}")
    return texts
