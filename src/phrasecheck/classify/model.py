"""Prediction: :class:`ToneModel`, a fitted tone model as plain numbers, and its file format.

A model is the fitted pipeline's weights (vocabulary → idf and per-class coefficients,
intercepts, calibration, feature settings), saved as JSON. Predicting needs no
scikit-learn: one reply is scored in pure Python with dict lookups (~0.1 ms, instead of the
~0.5 ms overhead of one ``predict_proba`` call, so an agent's message can be checked in real
time); a batch is scored in numpy (:mod:`phrasecheck._tonevec`, ~20 µs a reply), with the
same probabilities to the bit. Both reproduce the scikit-learn pipeline's probabilities to
~1e-15. Loading a model never unpickles anything: a model file is JSON, validated on load.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

from .._cache import paused_gc
from .._version import __version__
from ..errors import ModelError
from ..types import ToneResult
from .features import (
    _FEATURE_KINDS,
    _feature_tokenizer,
    _featurize,
    _normalize_replies,
    _texts,
    normalize_reply,
)
from .tables import PackedTerms

FORMAT = "phrasecheck-tone-model"
FORMAT_VERSION = 2
#: Model files this version reads: 1 (three labels, no prior) and 2 (optional ``groups`` of
#: sub-category classes under a public label, and a ``prior``).
SUPPORTED_VERSIONS = (1, 2)
#: The public labels, in the order ties are broken.
PUBLIC_LABELS = ("ok", "rude", "evasive")
#: Labels that say "nothing found" (the tone model's ok, the complaint model's none): by
#: default their verdicts are not explained.
_QUIET = frozenset({"ok", "none"})
#: Classes a model may be trained on in place of a public label (its sub-categories).
SUBCATEGORY_CLASSES: dict[str, tuple[str, ...]] = {"evasive": ("deflect", "stonewall")}
#: The share of each label among the agent replies a model meets in real traffic, which a
#: trained model's probabilities are for (``prior.deploy`` of the model file): most replies
#: are fine; we assume 1 in 100 is rude and 2 in 100 evasive (a QA sample in which 3 % of
#: replies break the tone rules is a bad one). Set your own with
#: :meth:`ToneModel.with_prior` or the policy setting ``tone_prior``; the training corpus
#: itself is about half rude or evasive, so without this shift ``label`` would flag far
#: too much ordinary talk.
DEFAULT_DEPLOY_PRIOR: dict[str, float] = {"ok": 0.97, "rude": 0.01, "evasive": 0.02}
_MAX_MODEL_BYTES = 64 * 1024 * 1024
_CALIBRATIONS = ("none", "sigmoid", "temperature")
# from this many texts on, ToneModel scores a batch with numpy (phrasecheck._tonevec); below
# it, the per-reply Python path is faster (numpy's fixed cost is ~100 µs a batch)
_BATCH_MIN = 4
# the batch scorer's tables take ~0.1 s to build (and numpy to import): worth it once the
# model has been given this many texts in batches (the per-reply path costs ~0.1 ms a text,
# the numpy path ~0.02 ms), so a run that scores a conversation or two never builds them;
# warm() builds them at once (before forking workers, say)
_BATCH_AFTER = 1500
# (idf, per-class coefficients) of each term of a block
_Terms = PackedTerms
# the features of one reply, in order: (term, x_f, per-class coefficients)
_Present = list[tuple[str, float, tuple[float, ...]]]
# explain([(i, k, top), ...]): for each, the top features pushing text i towards class k
_Explainer = Callable[[Sequence[tuple[int, int, int]]], list[tuple[tuple[str, float], ...]]]


@dataclass(frozen=True, slots=True)
class _Block:
    kind: str
    ngram_range: tuple[int, int]
    sublinear_tf: bool
    weight: float
    terms: PackedTerms


class ToneModel:
    """A fitted reply-tone model as plain weights; ``predict`` needs no scikit-learn.

    Build one with :func:`train_model`, :meth:`ToneClassifier.to_model` or
    :func:`load_model`. Immutable after construction and safe to share between threads.
    """

    def __init__(self, spec: Mapping[str, Any], *, source: str = "<dict>") -> None:
        _validate(spec, source)
        self._spec: dict[str, Any] | None = dict(spec)
        self._head = self._spec
        width = 1 + len(spec["classes"])
        self._setup(spec, [PackedTerms.from_rows(b["terms"], width)
                           for b in spec["features"]["blocks"]])

    @classmethod
    def _from_tables(cls, head: Mapping[str, Any], terms: list[_Terms]) -> ToneModel:
        """A model from its lookup tables (:mod:`.tables`): ``head`` is the model without its
        terms. Made from a validated model file whose SHA-256 they carry: not validated
        again. The full model (:meth:`to_dict`) is put together again when asked for."""
        model = cls.__new__(cls)
        model._spec = None
        model._head = dict(head)
        model._setup(head, terms)
        return model

    def _setup(self, spec: Mapping[str, Any], terms: list[_Terms]) -> None:
        self.classes: tuple[str, ...] = tuple(spec["classes"])
        self._n = len(self.classes)
        cal = spec["calibration"]
        self._cal_method: str = cal["method"]
        self._beta = float(cal.get("beta", 1.0))
        self._a = tuple(float(v) for v in cal.get("a", ()))
        self._b = tuple(float(v) for v in cal.get("b", ()))
        self._set_prior(spec, tuple(float(v) for v in spec["intercept"]))
        self._blocks = tuple(
            _Block(kind=b["kind"], ngram_range=(int(b["ngram_range"][0]),
                                                int(b["ngram_range"][1])),
                   sublinear_tf=bool(b["sublinear_tf"]), weight=float(b["weight"]),
                   terms=block_terms)
            for b, block_terms in zip(spec["features"]["blocks"], terms, strict=True))
        self._batch: Any = None  # the numpy batch scorer, built once it pays (_BATCH_AFTER)
        self._batched = 0  # texts given in batches before the scorer was built

    def _set_prior(self, spec: Mapping[str, Any], intercept: tuple[float, ...]) -> None:
        """Public labels, groups and the prior shift (folded into the intercepts)."""
        groups: Mapping[str, Sequence[str]] = spec.get("groups") or {}
        self.groups: dict[str, tuple[str, ...]] = {g: tuple(cs) for g, cs in groups.items()}
        self._group_of = {c: g for g, cs in self.groups.items() for c in cs}
        publics = list(dict.fromkeys(self._group_of.get(c, c) for c in self.classes))
        self.labels: tuple[str, ...] = tuple(sorted(
            publics, key=lambda lb: (PUBLIC_LABELS.index(lb) if lb in PUBLIC_LABELS
                                     else len(PUBLIC_LABELS), publics.index(lb))))
        self._members = [[k for k, c in enumerate(self.classes)
                          if self._group_of.get(c, c) == lb] for lb in self.labels]
        self._raw_intercept = intercept
        prior = spec.get("prior") or {}
        train, deploy = prior.get("train"), prior.get("deploy")
        if train and deploy and self._cal_method != "sigmoid":
            # p_deploy(c | x) ∝ p_train(c | x) · π_deploy(c) / π_train(c): with a softmax of
            # beta · scores, that is log(π_deploy / π_train) / beta added to each intercept
            beta = self._beta if self._cal_method == "temperature" else 1.0
            self._shift = tuple(math.log(float(deploy[c]) / float(train[c])) / beta
                                for c in self.classes)
        else:
            self._shift = (0.0,) * self._n
        self._intercept = tuple(a + b for a, b in zip(intercept, self._shift, strict=True))
        self._unshift = tuple(math.exp(-d * (self._beta if self._cal_method == "temperature"
                                             else 1.0)) for d in self._shift)

    @property
    def prior(self) -> dict[str, dict[str, float]]:
        """``train`` (the training rows' class shares) and ``deploy`` (the shares expected in
        real traffic, which the probabilities are for), when the model has them."""
        return {k: dict(v) for k, v in (self._head.get("prior") or {}).items()}

    def with_prior(self, deploy: Mapping[str, float]) -> ToneModel:
        """The same model for another deployment prior: the expected share of each label in
        the replies it will see, e.g. ``{"ok": 0.97, "rude": 0.01, "evasive": 0.02}``.

        A public label with sub-categories (``evasive``) may be given as a whole: it is split
        among them as in the training rows. Shares are normalised to sum to 1. Cheap (the
        weights are shared); the probabilities and ``label`` of the new model are at this
        prior.
        """
        train = (self._head.get("prior") or {}).get("train")
        if not train:
            raise ModelError("this model records no training prior (train it again with "
                             "phrasecheck >= 0.2 to set a deployment prior)")
        shares: dict[str, float] = {}
        for name, value in deploy.items():
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"prior share of {name!r} must be a number above 0, "
                                 f"got {value!r}")
            if name in self.classes:
                shares[name] = float(value)
            elif name in self.groups:
                members = self.groups[name]
                total = sum(float(train[c]) for c in members)
                for c in members:
                    shares[c] = float(value) * float(train[c]) / total
            else:
                raise ValueError(f"unknown label {name!r} in the prior (labels: "
                                 f"{', '.join(self.labels)}; classes: {', '.join(self.classes)})")
        missing = [c for c in self.classes if c not in shares]
        if missing:
            raise ValueError(f"the prior gives no share for {', '.join(missing)}")
        z = sum(shares.values())
        model = copy.copy(self)
        model._head = {**self._head, "prior": {"train": dict(train),
                                               "deploy": {c: shares[c] / z
                                                          for c in self.classes}}}
        model._spec = None
        model._set_prior(model._head, self._raw_intercept)
        model._batch, model._batched = None, 0
        return model

    def _full_spec(self) -> dict[str, Any]:
        """The model as its file holds it (terms included)."""
        if self._spec is None:
            spec = json.loads(json.dumps(self._head))
            for b, block in zip(spec["features"]["blocks"], self._blocks, strict=True):
                b["terms"] = {t: [idf, *coefs] for t, idf, coefs in block.terms.entries()}
            self._spec = spec
        return self._spec

    # ---------------------------------------------------------------- description
    def __repr__(self) -> str:
        return (f"ToneModel(classes={list(self.classes)}, features={self.n_features}, "
                f"calibration={self._cal_method!r})")

    @property
    def n_features(self) -> int:
        return sum(len(b.terms) for b in self._blocks)

    @property
    def metadata(self) -> dict[str, Any]:
        """Everything in the model file except the weights."""
        return {k: v for k, v in self._head.items()
                if k not in ("features", "intercept", "calibration")}

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self._head.get("metrics") or {})

    def to_dict(self) -> dict[str, Any]:
        copy: dict[str, Any] = json.loads(json.dumps(self._full_spec()))  # a deep copy
        return copy

    def to_json(self) -> str:
        """The model file's text: deterministic (sorted keys, exact float repr)."""
        return json.dumps(self._full_spec(), ensure_ascii=False, sort_keys=True,
                          separators=(",", ":"), allow_nan=False) + "\n"

    def save(self, path: str | os.PathLike[str]) -> Path:
        p = Path(path)
        if p.parent and not p.parent.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(self.to_json(), encoding="utf-8")
        return p

    def with_metadata(self, **items: Any) -> ToneModel:
        """A copy with top-level metadata entries replaced (e.g. ``metrics``)."""
        spec = self.to_dict()
        spec.update(items)
        return ToneModel(spec)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ToneModel) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    # ------------------------------------------------------------------ prediction
    def _scores(self, text: str) -> tuple[list[float], _Present]:
        """Decision values per class, and each present feature with its value x_f.

        The hot path of real-time checking: Counter (C) does the counting, and the
        per-feature update is unrolled for the usual three or four classes."""
        n = self._n
        scores = list(self._intercept)
        present: _Present = []
        norm = normalize_reply(text)
        log, sqrt = math.log, math.sqrt
        for b in self._blocks:
            terms = b.terms
            seen, row_of = terms.seen.get, terms.row.get
            counts = Counter(_featurize(b.kind, norm, b.ngram_range))
            vals = []
            sq = 0.0
            sublinear = b.sublinear_tf
            for f, c in counts.items():
                entry = seen(f)
                if entry is None:
                    i = row_of(f)
                    if i is None:
                        continue
                    entry = terms.unpack(f, i)
                idf, coefs = entry
                v = ((log(c) + 1.0) if sublinear else float(c)) * idf
                vals.append((f, v, coefs))
                sq += v * v
            if not vals:
                continue
            scale = b.weight / sqrt(sq)
            if n == 3:
                s0, s1, s2 = scores
                for f, v, coefs in vals:
                    x = v * scale
                    s0 += x * coefs[0]
                    s1 += x * coefs[1]
                    s2 += x * coefs[2]
                    present.append((f, x, coefs))
                scores = [s0, s1, s2]
            elif n == 4:  # three labels, evasive in two sub-categories
                s0, s1, s2, s3 = scores
                for f, v, coefs in vals:
                    x = v * scale
                    s0 += x * coefs[0]
                    s1 += x * coefs[1]
                    s2 += x * coefs[2]
                    s3 += x * coefs[3]
                    present.append((f, x, coefs))
                scores = [s0, s1, s2, s3]
            else:
                for f, v, coefs in vals:
                    x = v * scale
                    for k in range(n):
                        scores[k] += x * coefs[k]
                    present.append((f, x, coefs))
        return scores, present

    def _calibrate(self, scores: Sequence[float]) -> list[float]:
        if self._cal_method == "sigmoid":
            p = [_expit(-(a * s + b)) for a, b, s in zip(self._a, self._b, scores, strict=True)]
            total = sum(p)
            return [v / total for v in p] if total != 0 else [1.0 / self._n] * self._n
        beta = self._beta if self._cal_method == "temperature" else 1.0
        return _softmax([beta * s for s in scores])

    def warm(self) -> ToneModel:
        """Load the tokenizer, unpack the terms for the per-reply scorer and build the batch
        scorer's tables now (~0.2 s) rather than on first use: before forking workers, say,
        so that they share them."""
        _feature_tokenizer().lcut("您好")
        with paused_gc():
            for b in self._blocks:
                b.terms.unpack_all()
        self._batch_scorer()
        return self

    def _batch_scorer(self) -> Any:
        """The vectorised scorer (:mod:`phrasecheck._tonevec`), built once on first use;
        ``False`` when this model's n-gram ranges need the per-reply path. Two threads may
        both build it the first time; either result is the same, and assignment is atomic."""
        if self._batch is None:
            from .. import _tonevec

            self._batch = _tonevec.build(self._blocks, self._intercept,
                                         _feature_tokenizer().lcut) or False
        return self._batch

    def _many_scores(self, texts: Sequence[str]) -> tuple[Any, _Explainer]:
        """Decision values of many texts (a list of lists, or an ``(n, classes)`` numpy array
        from the batch path), and ``explain([(i, k, top), ...])`` giving the explanations of
        texts ``i`` towards classes ``k``.
        numpy scores the batch at once when there are enough texts to pay for it, with the
        same floats, bit for bit, as :meth:`_scores`, and the same explanations."""
        if len(texts) >= _BATCH_MIN:
            if self._batch is None:  # an approximate count is enough (threads)
                self._batched += len(texts)
            scorer = (self._batch_scorer() if self._batch is not None
                      or self._batched >= _BATCH_AFTER else None)
            if scorer:
                batch = scorer.score(_normalize_replies(texts))
                return batch.matrix, batch.explain
        return ([self._scores(t)[0] for t in texts],
                lambda wanted: [self._explain(k, self._scores(texts[i])[1], top)
                                for i, k, top in wanted])

    def predict_proba(self, texts: Iterable[str]) -> list[list[float]]:
        """Probabilities per text, in the order of :attr:`classes`."""
        return self._verdicts(self._many_scores(_texts(texts))[0]).probs

    def predict(self, texts: Iterable[str], *, explain: int | None = None
                ) -> list[ToneResult]:
        """One :class:`ToneResult` per text; ``features`` holds up to ``explain`` features
        that pushed most towards the predicted label, with their contributions to its
        decision value (a feature inside a stronger one, such as ``不懂`` inside ``听不懂``,
        is not repeated; word bigrams are shown joined).

        By default (``explain=None``) only flagged replies (label other than ``ok``, or
        ``none`` for the complaint model) are explained, with 5 features: explaining costs
        about as much as predicting, and batch scoring classifies every agent turn. Pass a
        number to explain every reply.

        A text that occurs more than once (canned replies, 好的, 请稍等) is scored once."""
        items = _texts(texts)
        unique = list(dict.fromkeys(items))
        if len(unique) == len(items):
            return self._predict(items, explain)
        first = dict(zip(unique, self._predict(unique, explain), strict=True))
        out, seen = [], set()
        for t in items:
            r = first[t]
            if t in seen:  # a result of its own: the probability dicts are plain dicts
                r = ToneResult(r.label, dict(r.probabilities), r.features, r.subcategory,
                               dict(r.sub_probabilities), r.balanced_label)
            seen.add(t)
            out.append(r)
        return out

    def predict_shared(self, texts: Sequence[str], *, explain: int | None = None
                       ) -> list[ToneResult]:
        """:meth:`predict` for callers that only read the results: a text that occurs more
        than once gets the same :class:`ToneResult` object each time (no copies)."""
        unique = list(dict.fromkeys(texts))
        if len(unique) == len(texts):
            return self._predict(list(texts), explain)
        first = dict(zip(unique, self._predict(unique, explain), strict=True))
        return [first[t] for t in texts]

    def predict_reportable(self, texts: Sequence[str], thresholds: Mapping[str, float]
                           ) -> list[ToneResult | None]:
        """:meth:`predict_shared` for a caller that acts only on replies it could report:
        ``None`` for a text whose probability of every label of ``thresholds`` is below that
        label's threshold and whose ``balanced_label`` is none of them (what
        :func:`phrasecheck.tone.could_flag` rules out); the same result as
        :meth:`predict_shared` for every other text.

        Batch scoring classifies every agent turn and almost every reply is fine: building
        a result with its probability dictionaries for each of them cost more than the rest
        of the verdict."""
        unique = list(dict.fromkeys(texts))
        if not unique:
            return []
        v, explainer = self._verdicts_of(unique)
        index = {lb: j for j, lb in enumerate(self.labels)}
        checks = [(index.get(lb), float(t)) for lb, t in thresholds.items()]
        rows = [i for i, (public, b) in enumerate(zip(v.public, v.balanced, strict=True))
                if any(b == j or (public[j] if j is not None else 0.0) >= t
                       for j, t in checks)]
        got = dict(zip((unique[i] for i in rows), self._results(v, explainer, rows, None),
                       strict=True))
        return [got.get(t) for t in texts]

    def label_probabilities(self, texts: Sequence[str], label: str
                            ) -> list[tuple[float, tuple[tuple[str, float], ...]]]:
        """``(P(label), features)`` per text, where ``features`` explains the texts whose
        :attr:`ToneResult.label` is ``label`` (5 features, as :meth:`predict`) and is empty
        for the others: the complaint detector's verdicts without a full result per text.
        A text that occurs more than once is scored once."""
        if label not in self.labels:
            raise ValueError(f"unknown label {label!r}: this model has {list(self.labels)}")
        unique = list(dict.fromkeys(texts))
        if not unique:
            return []
        v, explainer = self._verdicts_of(unique)
        j = self.labels.index(label)
        rows = [i for i, lab in enumerate(v.label) if lab == j]
        explained = dict(zip(rows, explainer([(i, v.cls[i], 5) for i in rows])
                             if label not in _QUIET else [() for _ in rows], strict=True))
        got = {t: (v.public[i][j], explained.get(i, ())) for i, t in enumerate(unique)}
        return [got[t] for t in texts]

    def _verdicts_of(self, texts: list[str]) -> tuple[_Verdicts, _Explainer]:
        all_scores, explainer = self._many_scores(texts)
        return self._verdicts(all_scores), explainer

    def _predict(self, texts: list[str], explain: int | None) -> list[ToneResult]:
        v, explainer = self._verdicts_of(texts)
        return self._results(v, explainer, range(len(texts)), explain)

    def _results(self, v: _Verdicts, explainer: _Explainer, rows: Sequence[int],
                 explain: int | None) -> list[ToneResult]:
        """The :class:`ToneResult` of each of ``rows`` of ``v``."""
        classes = self.classes
        labels = self.labels
        grouped = bool(self.groups)
        if explain is None:  # by default only the replies labelled other than ok/none
            wanted = [(i, v.cls[i], 5) for i in rows if labels[v.label[i]] not in _QUIET]
        else:
            wanted = [(i, v.cls[i], explain) for i in rows] if explain else []
        features = dict(zip((i for i, _, _ in wanted), explainer(wanted), strict=True))
        get = features.get
        label, cls, balanced, public, probs = v.label, v.cls, v.balanced, v.public, v.probs
        out = []
        for i in rows:
            j = label[i]
            out.append(ToneResult(
                label=labels[j], probabilities=dict(zip(labels, public[i], strict=True)),
                features=get(i, ()), subcategory=None if labels[j] == "ok" else classes[cls[i]],
                sub_probabilities=(dict(zip(classes, probs[i], strict=True)) if grouped
                                   else {}),
                balanced_label=labels[balanced[i]]))
        return out

    def _verdicts(self, scores: Any) -> _Verdicts:
        """Probabilities, label and class of every row of decision values. A numpy array of
        them (the batch path) is worked on in numpy, with the same floats to the bit as the
        per-row Python: the same operations in the same order (``math.exp`` for both, sums
        added left to right)."""
        if isinstance(scores, list) or self._cal_method == "sigmoid":
            rows = scores if isinstance(scores, list) else scores.tolist()
            return self._verdicts_py(rows)
        return self._verdicts_np(scores)

    def _verdicts_py(self, rows: Sequence[Sequence[float]]) -> _Verdicts:
        out = _Verdicts([], [], [], [], [])
        members, unshift = self._members, self._unshift
        for scores in rows:
            probs = self._calibrate(scores)
            public = [probs[ks[0]] if len(ks) == 1 else _total(probs[k] for k in ks)
                      for ks in members]
            j = public.index(max(public))  # the first of equal maxima, in label order
            ks = members[j]
            k = ks[0] if len(ks) == 1 else max(ks, key=probs.__getitem__)  # behind the label
            # the arg-max at the training rows' mix: undo the prior shift
            raw = [p * u for p, u in zip(probs, unshift, strict=True)]
            raw_public = [raw[ks[0]] if len(ks) == 1 else _total(raw[m] for m in ks)
                          for ks in members]
            out.probs.append(probs)
            out.public.append(public)
            out.label.append(j)
            out.cls.append(k)
            out.balanced.append(raw_public.index(max(raw_public)))
        return out

    def _verdicts_np(self, scores: Any) -> _Verdicts:
        import numpy as np

        n = len(scores)
        if not n:
            return _Verdicts([], [], [], [], [])
        z = scores * self._beta if self._cal_method == "temperature" else scores
        d = z - z.max(axis=1)[:, None]
        e = np.fromiter(map(math.exp, d.ravel().tolist()), dtype=np.float64,
                        count=d.size).reshape(d.shape)
        probs = e / _column_total(e, range(self._n))[:, None]
        members = self._members

        def public_of(p: Any) -> Any:
            return np.stack([p[:, ks[0]] if len(ks) == 1 else _column_total(p, ks)
                             for ks in members], axis=1)

        public = public_of(probs)
        label = public.argmax(axis=1)  # the first of equal maxima, as list.index(max(...))
        cls = np.array([ks[0] for ks in members], dtype=np.int64)[label]
        for j, ks in enumerate(members):
            if len(ks) > 1:
                best = np.array(ks, dtype=np.int64)[probs[:, ks].argmax(axis=1)]
                cls = np.where(label == j, best, cls)
        balanced = public_of(probs * np.array(self._unshift, dtype=np.float64)).argmax(axis=1)
        return _Verdicts(probs.tolist(), public.tolist(), label.tolist(), cls.tolist(),
                         balanced.tolist())

    def _explain(self, k: int, present: _Present,
                 top: int) -> tuple[tuple[str, float], ...]:
        n = self._n
        contrib: dict[str, float] = {}
        for f, x, coefs in present:
            # softmax ignores a shift shared by all classes, so explain against the mean
            name = f.replace("_", "")
            contrib[name] = contrib.get(name, 0.0) + x * (coefs[k] - sum(coefs) / n)
        ranked = sorted(((f, c) for f, c in contrib.items() if c > 0 and f.strip()),
                        key=lambda fc: (-fc[1], fc[0]))
        chosen: list[tuple[str, float]] = []
        for f, c in ranked:
            if any(f in g for g, _ in chosen):
                continue
            chosen.append((f, round(c, 6)))
            if len(chosen) == top:
                break
        return tuple(chosen)


def _expit(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _total(values: Iterable[float]) -> float:
    """Left-to-right sum (``sum`` of floats is compensated from Python 3.12 on; the numpy
    batch path adds in this order, so both give the same floats on every Python)."""
    t = 0.0
    for v in values:
        t += v
    return t


def _column_total(a: Any, columns: Iterable[int]) -> Any:
    """Row sums of ``a``'s ``columns``, added left to right, as :func:`_total` adds."""
    cols = list(columns)
    t = a[:, cols[0]] + 0.0  # 0.0 + x == x: the same start as _total
    for c in cols[1:]:
        t = t + a[:, c]
    return t


def _softmax(z: Sequence[float]) -> list[float]:
    m = max(z)
    e = [math.exp(v - m) for v in z]
    s = _total(e)
    return [v / s for v in e]


@dataclass(slots=True)
class _Verdicts:
    """Per row: probabilities per class, per public label, the label's index, the class
    behind it and the label at the training mix."""

    probs: list[list[float]]
    public: list[list[float]]
    label: list[int]
    cls: list[int]
    balanced: list[int]


# -------------------------------------------------------------------------- validation


def _validate(spec: Any, source: str) -> None:
    def bad(msg: str) -> ModelError:
        return ModelError(f"{source}: {msg}")

    if not isinstance(spec, Mapping):
        raise bad("not a phrasecheck tone model (expected a JSON object)")
    if spec.get("format") != FORMAT:
        raise bad(f"not a phrasecheck tone model (format {spec.get('format')!r}, "
                  f"expected {FORMAT!r})")
    version = spec.get("format_version")
    if version not in SUPPORTED_VERSIONS:
        raise bad(f"model format version {version!r} is not supported by phrasecheck "
                  f"{__version__} (supported: {', '.join(map(str, SUPPORTED_VERSIONS))}); "
                  f"retrain it with "
                  f"`phrasecheck train` or install the phrasecheck version that wrote it "
                  f"({spec.get('phrasecheck_version', 'unknown')})")
    classes = spec.get("classes")
    if (not isinstance(classes, list) or len(classes) < 2
            or not all(isinstance(c, str) for c in classes) or len(set(classes)) != len(classes)):
        raise bad("'classes' must be a list of at least two distinct labels")
    n = len(classes)
    groups = spec.get("groups")
    if groups is not None and not _good_groups(groups, classes):
        raise bad("'groups' must map labels to disjoint lists of the model's classes")
    prior = spec.get("prior")
    if prior is not None:
        if not isinstance(prior, Mapping):
            raise bad("'prior' must be an object with 'train' and 'deploy' shares")
        for part in ("train", "deploy"):
            shares = prior.get(part)
            if shares is None:
                continue
            if (not isinstance(shares, Mapping) or set(shares) != set(classes) or not all(
                    isinstance(v, int | float) and not isinstance(v, bool)
                    and 0 < v <= 1 for v in shares.values())):
                raise bad(f"'prior.{part}' must give every class a share in (0, 1]")
    if not _numbers(spec.get("intercept"), n):
        raise bad(f"'intercept' must be {n} numbers within ±{_MAX_WEIGHT:g}")
    cal = spec.get("calibration")
    if not isinstance(cal, Mapping) or cal.get("method") not in _CALIBRATIONS:
        raise bad(f"'calibration.method' must be one of {', '.join(_CALIBRATIONS)}")
    beta = cal.get("beta")
    if cal["method"] == "temperature" and not (
            isinstance(beta, int | float) and not isinstance(beta, bool)
            and 0 < beta <= _MAX_SCALE):
        raise bad(f"temperature calibration needs a 'beta' above 0 and at most "
                  f"{_MAX_SCALE:g}, got {cal.get('beta')!r}")
    if cal["method"] == "sigmoid" and not (_numbers(cal.get("a"), n)
                                           and _numbers(cal.get("b"), n)):
        raise bad(f"sigmoid calibration needs 'a' and 'b' with {n} numbers each")
    feats = spec.get("features")
    blocks = feats.get("blocks") if isinstance(feats, Mapping) else None
    if not isinstance(feats, Mapping) or not isinstance(blocks, list) or not blocks:
        raise bad("'features.blocks' must be a non-empty list")
    if feats.get("normalize") != "nfkc-lower-space/1":
        raise bad(f"unknown feature normalisation {feats.get('normalize')!r}")
    for i, b in enumerate(blocks):
        where = f"features.blocks[{i}]"
        if not isinstance(b, Mapping) or b.get("kind") not in _FEATURE_KINDS:
            raise bad(f"{where}.kind must be one of {', '.join(_FEATURE_KINDS)}")
        rng = b.get("ngram_range")
        if (not isinstance(rng, list) or len(rng) != 2
                or not all(type(v) is int and 1 <= v <= _MAX_NGRAM for v in rng)
                or rng[0] > rng[1]):
            raise bad(f"{where}.ngram_range must be [lo, hi] with 1 <= lo <= hi <= "
                      f"{_MAX_NGRAM}, got {rng!r}")
        weight = b.get("weight")
        if not isinstance(b.get("sublinear_tf"), bool) or not (
                isinstance(weight, int | float) and not isinstance(weight, bool)):
            raise bad(f"{where}: 'sublinear_tf' (bool) and 'weight' (number) are required")
        if not 0 < weight <= _MAX_SCALE:
            raise bad(f"{where}.weight must be above 0 and at most {_MAX_SCALE:g}, got "
                      f"{b['weight']!r}")
        terms = b.get("terms")
        if not isinstance(terms, Mapping):
            raise bad(f"{where}.terms must be an object")
        for t, v in terms.items():
            if not _numbers(v, n + 1):
                raise bad(f"{where}.terms[{t!r}] must be [idf, one coefficient per class] "
                          f"({n + 1} numbers within ±{_MAX_WEIGHT:g})")


# Bounds that keep every score finite: a reply's score sums weight x coefficient x TF-IDF
# (at most 1 after normalisation) over its features, times beta; with these bounds it stays
# far below the float range, so probabilities are never NaN. Real models are far inside
# them (the shipped one: coefficients below 10, beta about 2).
_MAX_WEIGHT = 1e6  # idf, coefficients, intercepts, sigmoid a and b
_MAX_SCALE = 1e3  # a block's weight, the temperature beta
_MAX_NGRAM = 8  # longest n-gram (a reply has about n x length features)


def _good_groups(groups: Any, classes: Sequence[str]) -> bool:
    if not isinstance(groups, Mapping):
        return False
    members = [c for cs in groups.values() if isinstance(cs, list) for c in cs]
    return (all(isinstance(g, str) and isinstance(cs, list) and cs
                and all(c in classes for c in cs) for g, cs in groups.items())
            and len(set(members)) == len(members))


def _numbers(v: Any, n: int) -> bool:
    return (isinstance(v, list) and len(v) == n
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                    and abs(x) <= _MAX_WEIGHT for x in v))


# ------------------------------------------------------------------------- load / path


def default_model_path(name: str = "tone") -> Traversable | None:
    """The bundled model file ``models/<name>.json`` (``tone``: the reply-tone model,
    ``complaint``: the complaint detector), or ``None`` when this installation ships none."""
    from importlib.resources import files

    path = files("phrasecheck") / "models" / f"{name}.json"
    return path if path.is_file() else None


def load_model(path: str | os.PathLike[str] | Path | Traversable) -> ToneModel:
    """Load and validate a JSON tone model. Raises :class:`ModelError` when the file is
    missing, is not JSON (a pickle, say: never unpickled), or is not a compatible model."""
    res: Any = path if isinstance(path, Traversable) and not isinstance(path, Path) else Path(
        os.fspath(path))
    name = str(path)
    try:
        if not res.is_file():
            raise ModelError(f"{name}: no such model file")
        raw = res.read_bytes()
    except OSError as e:
        raise ModelError(f"{name}: cannot read model file: {e}") from e
    if len(raw) > _MAX_MODEL_BYTES:
        raise ModelError(f"{name}: {len(raw)} bytes is too large for a tone model "
                         f"(limit {_MAX_MODEL_BYTES})")
    if raw[:1] == b"\x80":
        raise ModelError(f"{name}: this looks like a pickle file; phrasecheck never loads "
                         f"pickles (a tone model is JSON: train one with `phrasecheck train`)")
    if raw[:2] == b"PK":
        raise ModelError(f"{name}: this is a zip archive (a skops or joblib file?), not a "
                         f"phrasecheck JSON tone model")
    digest = hashlib.sha256(raw).hexdigest()
    with paused_gc():
        ready = _ready_tables(res, digest)
        if ready is not None:
            return ToneModel._from_tables(*ready)
    try:
        spec = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ModelError(f"{name}: not a JSON tone model (not UTF-8 text: {e})") from e
    except RecursionError:
        raise ModelError(f"{name}: corrupt model file: JSON nested too deeply") from None
    except json.JSONDecodeError as e:
        if raw.rstrip().endswith(b"."):
            raise ModelError(f"{name}: this looks like a (protocol 0) pickle file; "
                             f"phrasecheck never loads pickles") from e
        raise ModelError(f"{name}: corrupt model file: invalid JSON at line {e.lineno}, "
                         f"column {e.colno}: {e.msg}") from e
    model = ToneModel(spec, source=name)
    _keep_tables(spec, digest)
    return model


def _ready_tables(res: Any, digest: str) -> tuple[dict[str, Any], list[_Terms]] | None:
    """The lookup tables of the model file whose bytes have SHA-256 ``digest``: the ones
    shipped beside it (``<name>.tables``), else the ones kept in the user cache."""
    from .._cache import cache_dir
    from .tables import read_tables

    candidates: list[Path] = []
    if isinstance(res, Path):
        candidates.append(res.with_suffix(".tables"))
    root = cache_dir()
    if root is not None:
        candidates.append(root / f"tone-{digest[:32]}.tables")
    for path in candidates:
        try:
            if not path.is_file():
                continue
            ready = read_tables(path.read_bytes(), digest)
        except OSError:
            continue
        if ready is not None:
            return ready
    return None


def _keep_tables(spec: Mapping[str, Any], digest: str) -> None:
    """Keep the lookup tables of a model just read from JSON in the user cache, so that
    loading the same model file again takes milliseconds."""
    from .._cache import cache_dir, write_atomic
    from .tables import tables_bytes

    root = cache_dir()
    if root is None:
        return
    path = root / f"tone-{digest[:32]}.tables"
    if path.exists():
        return
    data = tables_bytes(spec, digest)
    if data is not None:
        with contextlib.suppress(OSError):
            write_atomic(path, data)

