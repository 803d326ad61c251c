"""Batch scoring for :class:`~phrasecheck.classify.ToneModel`: many replies at once, in numpy.

The per-reply path (``ToneModel._scores``) walks every character and word n-gram of a reply in
Python: about 100 µs per agent turn, most of a batch run's time. Here the n-grams of all the
replies of a call are found in a few vectorised steps instead:

* **characters**: the normalised texts are joined and turned into an array of code points;
  an n-gram (n ≤ 3) is one integer, its code points packed 21 bits apiece, looked up with
  :func:`numpy.searchsorted` in the sorted keys of the model's n-grams of that length;
* **words**: each reply is tokenised (the same tokenizer as the per-reply path), every token is
  mapped to an id with one C-level ``map(dict.get, ...)``, a bigram is the pair of ids, looked up
  like a character n-gram.

The result is **bit-for-bit** the per-reply path's: features are counted, ordered as
``collections.Counter`` orders them (first occurrence: unigrams, then bigrams, then trigrams;
the character block before the word block), weighted with the same ``log`` values, and summed
with :func:`numpy.bincount`, which adds in array order starting from the intercept, exactly as
the Python loop does. ``tests/test_classify.py`` checks this equality, so a conversation scored
in a batch and the same turns checked one by one (``ConversationMonitor``) agree exactly.

Models whose n-gram ranges this cannot pack (characters longer than 3, words longer than 2)
are scored by the per-reply path; :func:`build` returns ``None`` for them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import repeat
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Ints = npt.NDArray[np.int64]
    Floats = npt.NDArray[np.float64]

_BITS = 21  # every code point (≤ U+10FFFF) fits in 21 bits; three fit in a uint64
_MAX_CHAR_N = 3
_MAX_WORD_N = 2


class _Lookup:
    """Sorted integer keys → feature ids."""

    __slots__ = ("ids", "keys")

    def __init__(self, pairs: dict[int, int]) -> None:
        import numpy as np

        keys = np.fromiter(pairs.keys(), dtype=np.uint64, count=len(pairs))
        ids = np.fromiter(pairs.values(), dtype=np.int64, count=len(pairs))
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.ids = ids[order]

    def find(self, query: Any) -> Ints:
        """Feature id of every query key, -1 where the model has none."""
        import numpy as np

        if not len(self.keys) or not len(query):
            return np.full(len(query), -1, dtype=np.int64)
        pos = np.searchsorted(self.keys, query)
        pos[pos == len(self.keys)] = 0
        return np.where(self.keys[pos] == query, self.ids[pos], -1)


def _char_key(term: str) -> int:
    key = 0
    for ch in term:
        key = (key << _BITS) | ord(ch)
    return key


class _CharBlock:
    def __init__(self, terms: Sequence[str], offset: int, lo: int, hi: int) -> None:
        per_n: dict[int, dict[int, int]] = {n: {} for n in range(lo, hi + 1)}
        for i, term in enumerate(terms):
            if lo <= len(term) <= hi:
                per_n[len(term)][_char_key(term)] = offset + i
        self.lookups = {n: _Lookup(d) for n, d in per_n.items()}
        self.lo, self.hi = lo, hi

    def occurrences(self, norms: Sequence[str]) -> tuple[Ints, Ints]:
        """(row, feature id) of every in-vocabulary n-gram, per row: n ascending, then
        position, as the per-reply path lists them."""
        import numpy as np

        joined = "".join(norms)
        cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"),
                            dtype=np.uint32).astype(np.uint64)
        lens = np.fromiter(map(len, norms), dtype=np.int64, count=len(norms))
        row = np.repeat(np.arange(len(norms), dtype=np.int64), lens)
        rows, feats = [], []
        for n in range(self.lo, self.hi + 1):
            m = len(cps) - n + 1
            if m <= 0:
                continue
            key = cps[:m].copy()
            for j in range(1, n):
                key <<= np.uint64(_BITS)
                key |= cps[j:j + m]
            same = row[:m] == row[n - 1:n - 1 + m] if n > 1 else slice(None)
            r, k = row[:m][same], key[same]
            f = self.lookups[n].find(k)
            hit = f >= 0
            rows.append(r[hit])
            feats.append(f[hit])
        if not rows:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        return np.concatenate(rows), np.concatenate(feats)


class _WordBlock:
    def __init__(self, terms: Sequence[str], offset: int, lo: int, hi: int,
                 tokenize: Callable[[str], list[str]]) -> None:
        ids: dict[str, int] = {}

        def wid(w: str) -> int:
            return ids.setdefault(w, len(ids))

        unigrams: dict[int, int] = {}
        bigrams: dict[int, int] = {}
        pairs: list[tuple[int, int, int]] = []
        for i, term in enumerate(terms):
            if lo <= 1:
                unigrams[wid(term)] = offset + i
            if hi >= 2:
                # "a_b" is the bigram of words a and b, but jieba keeps "_" inside a token
                # ("a_b" may be one word too), so register every split: only the true one
                # can match a real pair of tokens
                for cut, ch in enumerate(term):
                    if ch == "_":
                        pairs.append((wid(term[:cut]), wid(term[cut + 1:]), offset + i))
        self.n_words = len(ids)
        for a, b, f in pairs:
            bigrams[a * self.n_words + b] = f
        import numpy as np

        self.unigram_feature = np.full(len(ids) + 1, -1, dtype=np.int64)
        for w, f in unigrams.items():
            self.unigram_feature[w] = f
        self.bigrams = _Lookup(bigrams)
        self.ids = ids
        self.lo, self.hi = lo, hi
        self.tokenize = tokenize

    def occurrences(self, norms: Sequence[str]) -> tuple[Ints, Ints]:
        import numpy as np

        words: list[str] = []
        lens = []
        tokenize = self.tokenize
        for t in norms:
            ws = [w for w in tokenize(t) if not w.isspace()]
            words += ws
            lens.append(len(ws))
        wids = np.array(list(map(self.ids.get, words, repeat(-1))), dtype=np.int64)
        row = np.repeat(np.arange(len(norms), dtype=np.int64), lens)
        rows, feats = [], []
        if self.lo <= 1:
            f = self.unigram_feature[wids]  # -1 (unknown word) indexes the -1 sentinel
            hit = f >= 0
            rows.append(row[hit])
            feats.append(f[hit])
        if self.hi >= 2 and len(wids) > 1:
            a, b = wids[:-1], wids[1:]
            ok = (row[:-1] == row[1:]) & (a >= 0) & (b >= 0)
            f = self.bigrams.find((a[ok] * self.n_words + b[ok]).astype(np.uint64))
            hit = f >= 0
            rows.append(row[:-1][ok][hit])
            feats.append(f[hit])
        if not rows:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        return np.concatenate(rows), np.concatenate(feats)


class Batch:
    """The decision values of a batch, and what is needed to explain any of its rows."""

    __slots__ = ("_bounds", "_feat", "_scorer", "_x", "scores")

    def __init__(self, scores: list[list[float]], bounds: list[int], feat: Ints, x: Floats,
                 scorer: BatchScorer) -> None:
        self.scores = scores
        self._bounds, self._feat, self._x, self._scorer = bounds, feat, x, scorer

    def explain(self, i: int, k: int, top: int) -> tuple[tuple[str, float], ...]:
        """What ``ToneModel._explain`` gives for row ``i`` and class ``k``, to the bit: each
        feature's contribution ``x_f * (coef_fk - mean_f)``, summed per displayed name (a
        word bigram shows joined, so ``a_b`` and the characters ``ab`` are one name) in
        first-occurrence order, the positive ones ranked by (-contribution, name), and a
        name inside an already chosen one skipped."""
        import numpy as np

        sc = self._scorer
        a, b = self._bounds[i], self._bounds[i + 1]
        feat = self._feat[a:b]
        contrib = self._x[a:b] * (sc.coef[feat, k] - sc.coef_mean[feat])
        names, inverse = np.unique(sc.name_id[feat], return_inverse=True)
        total = np.bincount(inverse, weights=contrib)  # adds in order from 0.0, as a dict
        keep = (total > 0) & sc.name_shown[names]
        names, total = names[keep], total[keep]
        order = np.lexsort((sc.name_rank[names], -total))
        chosen: list[tuple[str, float]] = []
        for j in order.tolist():
            name = sc.names[names[j]]
            if any(name in g for g, _ in chosen):
                continue
            chosen.append((name, round(float(total[j]), 6)))
            if len(chosen) == top:
                break
        return tuple(chosen)


class BatchScorer:
    """Decision values of a linear TF-IDF model for many texts at once (see module doc)."""

    def __init__(self, blocks: Sequence[Any], intercept: Sequence[float],
                 tokenize: Callable[[str], list[str]]) -> None:
        import numpy as np

        self._blocks: list[_CharBlock | _WordBlock] = []
        self.terms: list[str] = []
        idf: list[float] = []
        coefs: list[tuple[float, ...]] = []
        block_of: list[int] = []
        self._weights: list[float] = []
        self._sublinear: list[bool] = []
        for bi, b in enumerate(blocks):
            terms = list(b.terms)
            offset = len(idf)
            lo, hi = b.ngram_range
            if b.kind == "char":
                self._blocks.append(_CharBlock(terms, offset, lo, hi))
            else:
                self._blocks.append(_WordBlock(terms, offset, lo, hi, tokenize))
            self.terms += terms
            for t in terms:
                i, c = b.terms[t]
                idf.append(i)
                coefs.append(c)
            block_of += [bi] * len(terms)
            self._weights.append(b.weight)
            self._sublinear.append(b.sublinear_tf)
        self._idf = np.array(idf, dtype=np.float64)
        n_classes = len(intercept)
        self.coef = np.array(coefs, dtype=np.float64).reshape(len(idf), n_classes)
        # for explanations: the mean coefficient (Python's sum, as ToneModel._explain), and
        # each feature's displayed name (bigram parts joined) as an id, ranked as str sorts
        self.coef_mean = np.array([sum(c) / n_classes for c in coefs], dtype=np.float64)
        name_ids: dict[str, int] = {}
        self.name_id = np.array([name_ids.setdefault(t.replace("_", ""), len(name_ids))
                                 for t in self.terms], dtype=np.int64)
        self.names = list(name_ids)
        self.name_shown = np.array([bool(nm.strip()) for nm in self.names], dtype=bool)
        rank = sorted(range(len(self.names)), key=self.names.__getitem__)
        self.name_rank = np.empty(len(self.names), dtype=np.int64)
        self.name_rank[rank] = np.arange(len(self.names))
        self._block_of = np.array(block_of, dtype=np.int64)
        self._intercept = np.array(intercept, dtype=np.float64)
        self._n_features = len(idf)

    def score(self, norms: Sequence[str]) -> Batch:
        """Decision values (one list per text, one value per class) of normalised texts."""
        import numpy as np

        n, k = len(norms), len(self._intercept)
        if not n:
            empty = np.zeros(0, dtype=np.int64)
            return Batch([], [0], empty, np.zeros(0), self)
        parts = [blk.occurrences(norms) for blk in self._blocks]
        row = np.concatenate([p[0] for p in parts])
        feat = np.concatenate([p[1] for p in parts])
        # per row: character block, then word block, each in its own order (stable sort)
        order = np.argsort(row, kind="stable")
        row, feat = row[order], feat[order]
        # count each (row, feature); keep first-occurrence order, as Counter does
        key = row * self._n_features + feat
        _, first, counts = np.unique(key, return_index=True, return_counts=True)
        keep = np.sort(first)
        counts = counts[np.argsort(first)]
        row, feat = row[keep], feat[keep]
        block = self._block_of[feat]
        tf = counts.astype(np.float64)
        if any(self._sublinear):
            # math.log, not np.log: the same values as the per-reply path, bit for bit
            table = np.array([0.0] + [math.log(c) + 1.0
                                      for c in range(1, int(counts.max(initial=1)) + 1)])
            for bi, sub in enumerate(self._sublinear):
                if sub:
                    sel = block == bi
                    tf[sel] = table[counts[sel]]
        v = tf * self._idf[feat]
        nb = len(self._blocks)
        group = row * nb + block
        sq = np.bincount(group, weights=v * v, minlength=n * nb)
        weights = np.tile(np.array(self._weights, dtype=np.float64), n)
        with np.errstate(divide="ignore"):
            scale = np.where(sq > 0, weights / np.sqrt(sq), 0.0)
        x = v * scale[group]
        out = np.empty((n, k), dtype=np.float64)
        rows_first = np.concatenate([np.arange(n, dtype=np.int64), row])
        for c in range(k):
            # the intercepts first, then every feature in order: the same additions, in the
            # same order, as the per-reply loop
            w = np.concatenate([np.full(n, self._intercept[c]), x * self.coef[feat, c]])
            out[:, c] = np.bincount(rows_first, weights=w, minlength=n)
        bounds = np.searchsorted(row, np.arange(n + 1)).tolist()
        return Batch(out.tolist(), bounds, feat, x, self)


def build(blocks: Sequence[Any], intercept: Sequence[float],
          tokenize: Callable[[str], list[str]]) -> BatchScorer | None:
    """A :class:`BatchScorer` for these blocks, or ``None`` when they cannot be packed."""
    for b in blocks:
        lo, hi = b.ngram_range
        if b.kind == "char" and not 1 <= lo <= hi <= _MAX_CHAR_N:
            return None
        if b.kind == "word" and not 1 <= lo <= hi <= _MAX_WORD_N:
            return None
        if b.kind not in ("char", "word"):
            return None
    return BatchScorer(blocks, intercept, tokenize)
