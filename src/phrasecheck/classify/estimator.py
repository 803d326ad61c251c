"""Training: :class:`ToneClassifier`, an ordinary scikit-learn estimator.

TF-IDF of character n-grams and jieba word tokens → multinomial logistic regression →
probability calibration by :class:`~sklearn.calibration.CalibratedClassifierCV`.
:meth:`ToneClassifier.to_model` exports the fitted pipeline as plain weights, a
:class:`~phrasecheck.classify.model.ToneModel`, which predicts without scikit-learn.

This module imports scikit-learn (most of a second), so :mod:`phrasecheck.classify` imports
it only when ``ToneClassifier`` or the training functions are first asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from .._version import __version__
from .features import _Analyzer, _blocks_of, _is_unigram, _texts
from .model import (
    _CALIBRATIONS,
    DEFAULT_DEPLOY_PRIOR,
    FORMAT,
    FORMAT_VERSION,
    SUBCATEGORY_CLASSES,
    ToneModel,
)

__all__ = ["ToneClassifier"]


class _TermBlock(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """One TF-IDF block (``char`` or ``word`` n-grams) whose single-unit n-grams are
    scaled by ``unigram_weight`` after the L2 normalisation."""

    def __init__(self, kind: str = "char", ngram_range: tuple[int, int] = (1, 3),
                 min_df: int = 2, max_features: int | None = None,
                 sublinear_tf: bool = True, unigram_weight: float = 1.0) -> None:
        self.kind = kind
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.sublinear_tf = sublinear_tf
        self.unigram_weight = unigram_weight

    def fit(self, X: Iterable[str], y: Any = None) -> Any:
        self.fit_transform(X)
        return self

    def fit_transform(self, X: Iterable[str], y: Any = None, **_: Any) -> Any:
        lo, hi = (int(v) for v in self.ngram_range)
        self.tfidf_ = TfidfVectorizer(
            analyzer=_Analyzer(self.kind, (lo, hi)), min_df=self.min_df,
            max_features=self.max_features, sublinear_tf=self.sublinear_tf,
            dtype=np.float64)
        m = self.tfidf_.fit_transform(X)
        scale = np.ones(len(self.tfidf_.vocabulary_))
        if lo == 1 and float(self.unigram_weight) != 1.0:
            for term, j in self.tfidf_.vocabulary_.items():
                if _is_unigram(self.kind, term):
                    scale[j] = float(self.unigram_weight)
        self.scale_ = scale
        return self._scaled(m)

    def transform(self, X: Iterable[str]) -> Any:
        check_is_fitted(self, "tfidf_")
        return self._scaled(self.tfidf_.transform(X))

    def _scaled(self, m: Any) -> Any:
        if bool((self.scale_ == 1.0).all()):
            return m
        return (m @ sp.diags(self.scale_)).tocsr()

    @property
    def vocabulary_(self) -> dict[str, int]:
        return self.tfidf_.vocabulary_  # type: ignore[no-any-return]

    @property
    def idf_(self) -> Any:
        return self.tfidf_.idf_

    def get_feature_names_out(self, input_features: Any = None) -> Any:
        return self.tfidf_.get_feature_names_out()


# ClassifierMixin before BaseEstimator: scikit-learn >= 1.6 reads the estimator type from
# the tags the mixin adds, and BaseEstimator first would hide them (is_classifier False).
class ToneClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """TF-IDF (character n-grams and/or jieba words) → logistic regression → calibration.

    Parameters
    ----------
    features: ``"char"``, ``"word"`` or ``"char+word"`` (one TF-IDF block each,
        each L2-normalised, concatenated).
    char_ngram_range, word_ngram_range: n-gram lengths of each block.
    min_df: drop features seen in fewer training replies (prunes the model file).
    max_features: keep at most this many features per block (by corpus frequency).
    sublinear_tf: use ``1 + log(tf)``.
    unigram_weight: multiplies the (L2-normalised) TF-IDF value of every single
        character and single word, which makes the logistic regression's L2 penalty on
        their weights ``1 / unigram_weight**2`` times stronger. Tone is carried by
        phrases (说了多少遍, 回去等通知); single characters and words (都, 你, 去, 吧) are
        shared with ordinary talk, and a model free to lean on them flags ordinary
        replies (corpora/replies/EVAL.md, sections 2b, 5 and 5b). 1.0 treats all n-grams
        alike. The exported model folds the factor into its coefficients.
    C: inverse regularisation strength of the logistic regression.
    class_weight: ``None`` or ``"balanced"``.
    calibration: ``"temperature"``, ``"sigmoid"`` (CalibratedClassifierCV, ``ensemble=False``
        so the exported model is one linear model plus a calibration map) or ``"none"``
        (the logistic regression's own softmax).
    cv: folds for the calibration's cross-validated predictions.
    random_state: seed of the calibration folds (the solver is deterministic).
    """

    def __init__(
        self,
        features: str = "char+word",
        char_ngram_range: tuple[int, int] = (1, 3),
        word_ngram_range: tuple[int, int] = (1, 2),
        min_df: int = 2,
        max_features: int | None = None,
        sublinear_tf: bool = True,
        unigram_weight: float = 0.5,
        C: float = 10.0,
        class_weight: str | None = None,
        calibration: str = "temperature",
        cv: int = 5,
        max_iter: int = 5000,
        random_state: int = 0,
    ) -> None:
        self.features = features
        self.char_ngram_range = char_ngram_range
        self.word_ngram_range = word_ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.sublinear_tf = sublinear_tf
        self.unigram_weight = unigram_weight
        self.C = C
        self.class_weight = class_weight
        self.calibration = calibration
        self.cv = cv
        self.max_iter = max_iter
        self.random_state = random_state

    def _pipeline(self) -> Any:
        blocks = []
        for kind in _blocks_of(self.features):
            rng = tuple(self.char_ngram_range if kind == "char" else self.word_ngram_range)
            blocks.append((kind, _TermBlock(
                kind=kind, ngram_range=(int(rng[0]), int(rng[1])), min_df=self.min_df,
                max_features=self.max_features, sublinear_tf=self.sublinear_tf,
                unigram_weight=self.unigram_weight)))
        lr = LogisticRegression(C=self.C, class_weight=self.class_weight,
                                max_iter=self.max_iter)
        return Pipeline([("features", FeatureUnion(blocks)), ("lr", lr)])

    def fit(self, X: Iterable[str], y: Iterable[str]) -> Any:
        texts = _texts(X)
        labels = np.asarray([str(v) for v in y], dtype=object)
        if len(texts) != len(labels):
            raise ValueError(f"X has {len(texts)} texts but y has {len(labels)} labels")
        if not (isinstance(self.unigram_weight, (int, float))
                and 0.0 < float(self.unigram_weight) <= 1.0):
            raise ValueError(f"unigram_weight={self.unigram_weight!r}: expected a number "
                             "in (0, 1]")
        if self.calibration not in _CALIBRATIONS:
            raise ValueError(f"calibration={self.calibration!r}: expected one of "
                             f"{', '.join(_CALIBRATIONS)}")
        if self.calibration == "temperature" and not _has_temperature_scaling():
            raise ValueError(
                f"calibration='temperature' needs scikit-learn >= 1.8 (installed: "
                f"{sklearn.__version__}); upgrade it or use calibration='sigmoid'")
        pipe = self._pipeline()
        # one BLAS thread: these models are small and sparse, and idle BLAS threads
        # spinning on a busy machine made a fit up to 100x slower in our measurements
        with threadpool_limits(limits=1, user_api="blas"):
            if self.calibration == "none":
                pipe.fit(texts, labels)
                self.pipeline_ = pipe
                self.calibrated_ = None
            else:
                folds = StratifiedKFold(n_splits=self.cv, shuffle=True,
                                        random_state=self.random_state)
                cal = CalibratedClassifierCV(pipe, method=self.calibration, cv=folds,
                                             ensemble=False)
                cal.fit(texts, labels)
                self.calibrated_ = cal
                self.pipeline_ = cal.calibrated_classifiers_[0].estimator
        # CalibratedClassifierCV(method="temperature") fits the inner pipeline on the
        # label-encoded targets (0..n-1 in sorted label order), so take the labels from it
        self.classes_ = (self.pipeline_.classes_ if self.calibrated_ is None
                         else self.calibrated_.classes_)
        counts = {str(c): int((labels == c).sum()) for c in self.classes_}
        self.class_prior_ = {c: n / len(labels) for c, n in counts.items()}
        self.n_features_ = int(sum(
            len(t.vocabulary_) for _, t in self.pipeline_.named_steps["features"]
            .transformer_list))
        return self

    def decision_function(self, X: Iterable[str]) -> Any:
        check_is_fitted(self, "pipeline_")
        return self.pipeline_.decision_function(_texts(X))

    def predict_proba(self, X: Iterable[str]) -> Any:
        check_is_fitted(self, "pipeline_")
        texts = _texts(X)
        if self.calibrated_ is None:
            return self.pipeline_.predict_proba(texts)
        return self.calibrated_.predict_proba(texts)

    def predict(self, X: Iterable[str]) -> Any:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def to_model(self, metadata: Mapping[str, Any] | None = None) -> ToneModel:
        """Export the fitted pipeline as a :class:`ToneModel` (plain weights)."""
        check_is_fitted(self, "pipeline_")
        return ToneModel(_export(self, dict(metadata or {})))


def _has_temperature_scaling() -> bool:
    constraints = CalibratedClassifierCV._parameter_constraints.get("method", [])
    return any("temperature" in getattr(c, "options", ()) for c in constraints)


def _export(est: Any, metadata: dict[str, Any]) -> dict[str, Any]:
    pipe = est.pipeline_
    lr = pipe.named_steps["lr"]
    classes = [str(c) for c in est.classes_]
    coef = lr.coef_
    intercept = [float(v) for v in lr.intercept_]
    if len(classes) == 2 and coef.shape[0] == 1:
        # binary logistic regression: one decision value x = w.f + b. The softmax model
        # gets logits (-x, x) where temperature scaling uses them (scikit-learn's convention
        # for binary decision values) and (0, x) for the plain sigmoid
        if est.calibration == "sigmoid":
            raise ValueError("a two-class model cannot be exported with sigmoid "
                             "calibration; use 'temperature' or 'none'")
        lo = -coef if est.calibration == "temperature" else np.zeros_like(coef)
        coef = np.vstack([lo, coef])
        b = intercept[0]
        intercept = [-b if est.calibration == "temperature" else 0.0, b]
    blocks = []
    offset = 0
    union = pipe.named_steps["features"]
    for name, vec in union.transformer_list:
        weight = (union.transformer_weights or {}).get(name, 1.0)
        vocab: dict[str, int] = vec.vocabulary_
        idf = vec.idf_
        scale = vec.scale_  # folded into the coefficients: x_j * s_j * c_kj
        terms = {}
        for term in sorted(vocab):
            j = vocab[term]
            col = offset + j
            terms[term] = [float(idf[j]), *(float(coef[k, col] * scale[j])
                                             for k in range(len(classes)))]
        offset += len(vocab)
        rng = vec.ngram_range
        blocks.append({"kind": vec.kind, "ngram_range": [int(rng[0]), int(rng[1])],
                       "sublinear_tf": bool(vec.sublinear_tf), "weight": float(weight),
                       "terms": terms})
    calibration: dict[str, Any] = {"method": est.calibration}
    if est.calibrated_ is not None:
        cc = est.calibrated_.calibrated_classifiers_[0]
        if est.calibration == "temperature":
            calibration["beta"] = float(cc.calibrators[0].beta_)
        else:
            calibration["a"] = [float(c.a_) for c in cc.calibrators]
            calibration["b"] = [float(c.b_) for c in cc.calibrators]
    spec: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "phrasecheck_version": __version__,
        **metadata,
        "classes": classes,
        "features": {"normalize": "nfkc-lower-space/1", "blocks": blocks},
        "intercept": intercept,
        "calibration": calibration,
    }
    groups = {g: [c for c in cs if c in classes] for g, cs in SUBCATEGORY_CLASSES.items()
              if sum(c in classes for c in cs) > 1}
    if groups:  # sub-category classes answer for their public label
        spec["groups"] = groups
    train = {c: float(est.class_prior_[c]) for c in classes}
    spec["prior"] = {"train": train}
    if "ok" in classes:  # a tone model: its probabilities are for real traffic's mix
        spec["prior"]["deploy"] = deploy_shares(DEFAULT_DEPLOY_PRIOR, classes, groups, train)
    return spec


def deploy_shares(deploy: Mapping[str, float], classes: Sequence[str],
                  groups: Mapping[str, Sequence[str]], train: Mapping[str, float]
                  ) -> dict[str, float]:
    """Per-class shares of a deployment prior given per public label (a label with
    sub-categories split among them as in the training rows); classes the prior does not
    name share what is left in proportion to their training shares."""
    out: dict[str, float] = {}
    for label, share in deploy.items():
        members = list(groups.get(label, [label] if label in classes else []))
        total = sum(train[c] for c in members)
        for c in members:
            out[c] = share * train[c] / total
    rest = [c for c in classes if c not in out]
    left = max(0.0, 1.0 - sum(out.values()))
    for c in rest:
        out[c] = left * train[c] / sum(train[r] for r in rest) if left > 0 else train[c]
    z = sum(out.values())
    return {c: out[c] / z for c in classes}

