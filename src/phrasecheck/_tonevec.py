"""Batch scoring for :class:`~phrasecheck.classify.ToneModel`: many replies at once, in numpy.

The per-reply path (``ToneModel._scores``) walks every character and word n-gram of a reply in
Python: about 100 µs per agent turn, most of a batch run's time. Here the n-grams of all the
replies of a call are found in a few vectorised steps instead:

* **characters**: the normalised texts are joined and turned into an array of code points;
  an n-gram (n ≤ 3) is one integer, its code points packed 21 bits apiece, looked up in a
  two-table cuckoo hash of the model's n-grams of that length (:class:`_Lookup`: a gather of
  each table's key at the query's slot, then one gather of the id where it was found);
  single characters by a direct table;
* **words**: the replies are tokenised in one call (the same tokenizer as the per-reply path);
  a token of up to three characters is packed and looked up like a character n-gram, a longer
  one by dict; a bigram is the pair of word ids, looked up in a cuckoo hash too.

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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Ints = npt.NDArray[np.int64]
    Floats = npt.NDArray[np.float64]

_BITS = 21  # every code point (≤ U+10FFFF) fits in 21 bits; three fit in a uint64
_NEWLINE, _SPACE = -3, -2  # token ids of the batch separator and of a space
_MAX_CHAR_N = 3
_MAX_WORD_N = 2


class _Lookup:
    """Integer keys → feature ids: a two-table cuckoo hash probed for all queries at once.
    A key lives in slot ``h1(key)`` of the first table or ``h2(key)`` of the second, so a
    lookup is two vectorised gathers, whatever the query: no per-query binary search
    (~15 dependent steps) and no probe loop."""

    __slots__ = ("_ids", "_keys", "_mult", "_shift", "_size")

    _EMPTY = (1 << 64) - 1  # never a key: character keys use 63 bits, word keys fewer
    # odd multipliers for multiplicative hashing (the top bits of key * M mod 2^64); the
    # next pair is tried if the keys cannot all be placed with this one
    _MULTS = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
              0xD6E8FEB86659FD93, 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53)

    def __init__(self, pairs: dict[int, int]) -> None:
        import numpy as np

        bits = max(4, (2 * len(pairs)).bit_length())  # each table at most half full
        for attempt in range(len(self._MULTS) - 1):
            mults = (self._MULTS[attempt], self._MULTS[attempt + 1])
            tables = self._place(pairs, bits, mults)
            if tables is not None:
                break
        else:  # pragma: no cover - six multiplier pairs failing is astronomically unlikely
            raise RuntimeError("could not build the n-gram hash table")
        keys, ids = tables
        self._keys = np.array(keys, dtype=np.uint64)  # shape (2, size)
        # the ids of both tables end to end, then -1: a query's id is one gather at the
        # slot it was found in (size + slot for the second table, 2 * size for none)
        self._size = len(keys[0])
        self._ids = np.array([*ids[0], *ids[1], -1], dtype=np.int64)
        self._mult = tuple(np.uint64(m) for m in mults)
        self._shift = np.uint64(64 - bits)

    @classmethod
    def _place(cls, pairs: dict[int, int], bits: int, mults: tuple[int, int]
               ) -> tuple[list[list[int]], list[list[int]]] | None:
        size, shift, full = 1 << bits, 64 - bits, (1 << 64) - 1
        keys = [[cls._EMPTY] * size, [cls._EMPTY] * size]
        ids = [[-1] * size, [-1] * size]
        for key, fid in pairs.items():
            t = 0
            for _ in range(64):  # kick out residents until one lands in an empty slot
                slot = ((key * mults[t]) & full) >> shift
                key, keys[t][slot] = keys[t][slot], key
                fid, ids[t][slot] = ids[t][slot], fid
                if key == cls._EMPTY:
                    break
                t = 1 - t
            else:
                return None
        return keys, ids

    def find(self, query: Any) -> Ints:
        """Feature id of every query key (uint64), -1 where the model has none."""
        import numpy as np

        # take() on the 1-D tables: several times faster than fancy indexing of the 2-D ones
        s1 = ((query * self._mult[0]) >> self._shift).astype(np.intp)
        s2 = ((query * self._mult[1]) >> self._shift).astype(np.intp)
        k1, k2 = self._keys
        size = self._size
        slot = np.where(k1.take(s1) == query, s1,
                        np.where(k2.take(s2) == query, s2 + size, 2 * size))
        found: Ints = self._ids.take(slot)
        return found


class _CharLookup:
    """Single characters → feature ids: a direct table for the BMP (one gather), the hash
    for anything beyond it."""

    __slots__ = ("_beyond", "_table")

    _BMP = 0x10000

    def __init__(self, pairs: dict[int, int]) -> None:
        import numpy as np

        self._table = np.full(self._BMP, -1, dtype=np.int64)
        for key, fid in pairs.items():
            if key < self._BMP:
                self._table[key] = fid
        self._beyond = _Lookup({k: v for k, v in pairs.items() if k >= self._BMP})

    def find(self, query: Any) -> Ints:
        import numpy as np

        if not len(query):
            return np.zeros(0, dtype=np.int64)
        if int(query.max()) < self._BMP:
            out: Ints = self._table.take(query.astype(np.intp))
            return out
        out = self._table[np.minimum(query, self._BMP - 1)]
        beyond = query >= self._BMP
        out[beyond] = self._beyond.find(query[beyond])
        return out


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
        self.lookups = {n: _CharLookup(d) if n == 1 else _Lookup(d) for n, d in per_n.items()}
        self.lo, self.hi = lo, hi

    def occurrences(self, norms: Sequence[str]) -> list[tuple[Ints, Ints]]:
        """(row, feature id) of every in-vocabulary n-gram: one part per n, ascending,
        each in text order (rows ascending), as the per-reply path lists them."""
        import numpy as np

        joined = "".join(norms)
        cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"),
                            dtype=np.uint32).astype(np.uint64)
        lens = np.fromiter(map(len, norms), dtype=np.int64, count=len(norms))
        row = np.repeat(np.arange(len(norms), dtype=np.int64), lens)
        parts = []
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
            parts.append((r[hit], f[hit]))
        return parts


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
        # token → word id: words of up to three characters by packed code points, like the
        # character n-grams (one vectorised lookup per length), longer ones by dict
        self._short_ids = {
            n: (_CharLookup if n == 1 else _Lookup)(
                {_char_key(w): i for w, i in ids.items() if len(w) == n})
            for n in range(1, _MAX_CHAR_N + 1)}
        self._long_ids = {w: i for w, i in ids.items() if len(w) > _MAX_CHAR_N}
        self.lo, self.hi = lo, hi
        self.tokenize = tokenize

    def occurrences(self, norms: Sequence[str]) -> list[tuple[Ints, Ints]]:
        """(row, feature id) of every in-vocabulary word n-gram: unigrams, then bigrams,
        each in text order."""
        import numpy as np

        # one tokenizer call for the batch: a normalised text has no "\n", and jieba never
        # joins across one, so the tokens are each text's own with "\n" between them;
        # whitespace tokens (" ", after normalisation) are dropped, as the per-reply path does
        joined = "\n".join(norms)
        tokens = self.tokenize(joined)
        wids = self._word_ids(joined, tokens)
        row = np.cumsum(wids == _NEWLINE)
        keep = wids > _SPACE
        wids, row = wids[keep], row[keep]
        parts = []
        if self.lo <= 1:
            f = self.unigram_feature[wids]  # -1 (unknown word) indexes the -1 sentinel
            hit = f >= 0
            parts.append((row[hit], f[hit]))
        if self.hi >= 2 and len(wids) > 1:
            a, b = wids[:-1], wids[1:]
            ok = (row[:-1] == row[1:]) & (a >= 0) & (b >= 0)
            f = self.bigrams.find((a[ok] * self.n_words + b[ok]).astype(np.uint64))
            hit = f >= 0
            parts.append((row[:-1][ok][hit], f[hit]))
        return parts

    def _word_ids(self, joined: str, tokens: list[str]) -> Ints:
        """The id of every token (-1 unknown, _NEWLINE, _SPACE); tokens partition joined."""
        import numpy as np

        lens = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
        cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"),
                            dtype=np.uint32).astype(np.uint64)
        if int(lens.sum()) != len(cps) or not lens.all():
            raise AssertionError("the tokenizer's tokens do not partition the text")
        start = np.cumsum(lens) - lens
        wids = np.full(len(tokens), -1, dtype=np.int64)
        for n, lookup in self._short_ids.items():
            at = np.flatnonzero(lens == n)
            if not len(at):
                continue
            key = cps[start[at]]
            for j in range(1, n):
                key = (key << np.uint64(_BITS)) | cps[start[at] + j]
            wids[at] = lookup.find(key)
        long = np.flatnonzero(lens > _MAX_CHAR_N).tolist()
        if long:
            get = self._long_ids.get
            wids[long] = [get(tokens[i], -1) for i in long]
        single = lens == 1
        first = cps[start]
        wids[single & (first == ord("\n"))] = _NEWLINE
        wids[single & (first == ord(" "))] = _SPACE
        return wids


class Batch:
    """The decision values of a batch, and what is needed to explain any of its rows."""

    __slots__ = ("_bounds", "_feat", "_scorer", "_x", "matrix")

    def __init__(self, matrix: Floats, bounds: list[int], feat: Ints, x: Floats,
                 scorer: BatchScorer) -> None:
        self.matrix = matrix  # (texts, classes)
        self._bounds, self._feat, self._x, self._scorer = bounds, feat, x, scorer

    @property
    def scores(self) -> list[list[float]]:
        """The decision values, one list per text."""
        out: list[list[float]] = self.matrix.tolist()
        return out

    def explain(self, wanted: Sequence[tuple[int, int, int]]
                ) -> list[tuple[tuple[str, float], ...]]:
        """For each ``(row, class k, top)``: what ``ToneModel._explain`` gives, to the bit.
        Each feature contributes ``x_f * (coef_fk - mean_f)``; contributions are summed per
        displayed name (a word bigram shows joined, so ``a_b`` and the characters ``ab`` are
        one name) in order of occurrence; the positive ones are ranked by (-contribution,
        name); a name inside an already chosen one is skipped. All rows at once in numpy,
        then a short walk down each row's ranking."""
        import numpy as np

        if not wanted:
            return []
        sc = self._scorer
        bounds = self._bounds
        starts = np.array([bounds[r] for r, _, _ in wanted], dtype=np.int64)
        lens = np.array([bounds[r + 1] - bounds[r] for r, _, _ in wanted], dtype=np.int64)
        which = np.repeat(np.arange(len(wanted), dtype=np.int64), lens)
        idx = np.arange(int(lens.sum()), dtype=np.int64) - np.repeat(
            np.cumsum(lens) - lens - starts, lens)
        feat = self._feat[idx]
        k = np.array([kk for _, kk, _ in wanted], dtype=np.int64)[which]
        # take() on the flat coefficients: the same values as coef[feat, k], without
        # numpy's slower two-dimensional fancy indexing
        width = sc.coef.shape[1]
        contrib = self._x.take(idx) * (sc.coef.ravel().take(feat * width + k)
                                       - sc.coef_mean.take(feat))
        n_names = len(sc.names)
        keys, _, _, inverse = _groups(which * n_names + sc.name_id[feat],
                                      len(wanted) * n_names)
        total = np.bincount(inverse, weights=contrib)  # adds in order from 0.0, as a dict
        owner, name = np.divmod(keys, n_names)
        keep = (total > 0) & sc.name_shown[name]
        owner, name, total = owner[keep], name[keep], total[keep]
        order = np.lexsort((sc.name_rank[name], -total, owner))
        owner, name, total = owner[order], name[order], total[order]
        cuts = np.searchsorted(owner, np.arange(len(wanted) + 1)).tolist()
        names_l, totals_l = name.tolist(), total.tolist()
        out = []
        names = sc.names
        for j, (_, _, top) in enumerate(wanted):
            chosen: list[str] = []
            values: list[float] = []
            for pos in range(cuts[j], cuts[j + 1]):
                nm = names[names_l[pos]]
                for g in chosen:
                    if nm in g:
                        break
                else:
                    chosen.append(nm)
                    values.append(round(totals_l[pos], 6))
                    if len(chosen) == top:
                        break
            out.append(tuple(zip(chosen, values)))
        return out


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
            rows = list(b.terms.entries())  # (term, idf, coefficients)
            terms = [t for t, _, _ in rows]
            offset = len(idf)
            lo, hi = b.ngram_range
            if b.kind == "char":
                self._blocks.append(_CharBlock(terms, offset, lo, hi))
            else:
                self._blocks.append(_WordBlock(terms, offset, lo, hi, tokenize))
            self.terms += terms
            idf += [i for _, i, _ in rows]
            coefs += [c for _, _, c in rows]
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
            return Batch(np.zeros((0, k)), [0], empty, np.zeros(0), self)
        parts = [p for blk in self._blocks for p in blk.occurrences(norms)]
        row, feat = _row_major(parts, n)
        row, feat, counts = _count(row, feat, n, self._n_features)
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
        # one bincount per class: row i's bin gets its intercept first, then every feature in
        # order: the same additions, in the same order, as the per-reply loop
        rows_first = np.concatenate([np.arange(n, dtype=np.int64), row])
        w = np.empty((k, n + len(feat)), dtype=np.float64)
        w[:, :n] = self._intercept[:, None]
        np.multiply(np.take(self.coef, feat, axis=0).T, x, out=w[:, n:])
        out: Floats = np.stack([np.bincount(rows_first, weights=w[c], minlength=n)
                                for c in range(k)], axis=1)
        bounds = [0, *np.cumsum(np.bincount(row, minlength=n)).tolist()]
        return Batch(out, bounds, feat, x, self)


def _row_major(parts: Sequence[tuple[Ints, Ints]], n: int) -> tuple[Ints, Ints]:
    """Interleave parts, each ordered by row, into one array ordered by row: row 0's
    elements of part 0, then of part 1, …, then row 1's. A scatter, no sort."""
    import numpy as np

    per_part = [np.bincount(r, minlength=n) for r, _ in parts]
    per_row = np.sum(per_part, axis=0) if parts else np.zeros(n, dtype=np.int64)
    at = np.cumsum(per_row) - per_row  # where each row's next element goes
    feat = np.empty(int(per_row.sum()), dtype=np.int64)
    for (r, f), c in zip(parts, per_part, strict=True):
        start = np.cumsum(c) - c  # where each row begins within this part
        feat[at[r] + np.arange(len(r)) - start[r]] = f
        at += c
    return np.repeat(np.arange(n, dtype=np.int64), per_row), feat


_PACK_BITS = 63  # bits of an int64 key that _groups may use (a test lowers it)


def _groups(key: Ints, bound: int, with_inverse: bool = True
            ) -> tuple[Ints, Ints, Ints, Ints]:
    """Group equal keys (all in ``range(bound)``): the distinct keys (ascending), each one's
    first position and count, and each element's group number (an empty array when not
    ``with_inverse``: a scatter over every element, which counting does not need).

    Key and position are packed into one integer and sorted by value (numpy's fast path:
    several times faster than the stable argsort ``np.unique`` needs); keys too wide to
    pack go through ``np.unique``."""
    import numpy as np

    m = len(key)
    pos_bits = max(1, m.bit_length())
    if max(1, bound).bit_length() + pos_bits > _PACK_BITS:
        keys, first, inverse, counts = np.unique(key, return_index=True, return_inverse=True,
                                                 return_counts=True)
        return keys, first, counts, inverse.reshape(-1)
    packed = (key << pos_bits) | np.arange(m, dtype=np.int64)
    packed.sort()
    grouped = packed >> pos_bits
    pos = packed & ((1 << pos_bits) - 1)
    new = np.concatenate([[m > 0], grouped[1:] != grouped[:-1]])
    starts = np.flatnonzero(new)
    group_of = np.empty(m if with_inverse else 0, dtype=np.int64)
    if with_inverse:
        group_of[pos] = np.cumsum(new) - 1
    return grouped[starts], pos[starts], np.diff(np.append(starts, m)), group_of


def _count(row: Ints, feat: Ints, n_rows: int, n_features: int
           ) -> tuple[Ints, Ints, Ints]:
    """Each distinct (row, feature) once, at its first occurrence, in input order (as
    ``collections.Counter`` keeps them), with its count."""
    import numpy as np

    m = len(row)
    _, first, counts, _ = _groups(row * n_features + feat, n_rows * n_features,
                                  with_inverse=False)
    keep = np.zeros(m, dtype=bool)
    keep[first] = True
    count = np.zeros(m, dtype=np.int64)
    count[first] = counts
    return row[keep], feat[keep], count[keep]


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
