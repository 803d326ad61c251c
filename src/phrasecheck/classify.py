"""The reply-tone classifier: is an agent's reply ``ok``, ``rude`` or ``evasive``?

Two halves, on purpose:

* **Training** uses scikit-learn. :class:`ToneClassifier` is an ordinary estimator (TF-IDF of
  character n-grams and jieba word tokens → multinomial logistic regression → probability
  calibration by :class:`~sklearn.calibration.CalibratedClassifierCV`). :func:`train_model`
  fits it and exports the fitted weights to a :class:`ToneModel`.
* **Prediction** needs no scikit-learn. A :class:`ToneModel` is the fitted pipeline as plain
  numbers (vocabulary → idf and per-class coefficients, intercepts, calibration, feature
  settings), saved as JSON. One reply is scored in pure Python with dict lookups (~0.1 ms,
  instead of the ~0.5 ms overhead of one ``predict_proba`` call, so an agent's message can
  be checked in real time); a batch is scored in numpy (:mod:`phrasecheck._tonevec`, ~20 µs
  a reply), with the same probabilities to the bit. Both reproduce the scikit-learn
  pipeline's probabilities to ~1e-15.
  Loading a model never unpickles anything: a model file is JSON, validated on load.

Nothing happens at import time: scikit-learn, pandas and jieba are imported on first use
(``ToneClassifier`` itself is created on first access, because importing scikit-learn takes
most of a second and predicting needs none of it).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.abc import Traversable
from itertools import repeat
from operator import add
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import ModelError
from .types import ToneResult

if TYPE_CHECKING:
    import pandas as pd

    from .tokenize import JiebaTokenizer

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "LABELS",
    "EvalReport",
    "ToneClassifier",
    "ToneModel",
    "default_model_path",
    "evaluate_model",
    "featurize",
    "load_model",
    "load_replies",
    "normalize_reply",
    "train_model",
]

FORMAT = "phrasecheck-tone-model"
FORMAT_VERSION = 1
LABELS: tuple[str, ...] = ("ok", "rude", "evasive")
REPLY_COLUMNS: tuple[str, ...] = ("id", "text", "label", "domain", "channel", "hard")
_MAX_MODEL_BYTES = 64 * 1024 * 1024
_WHITESPACE = re.compile(r"\s+")
_FEATURE_KINDS = ("char", "word")
_CALIBRATIONS = ("none", "sigmoid", "temperature")
# from this many texts on, ToneModel scores a batch with numpy (phrasecheck._tonevec); below
# it, the per-reply Python path is faster (numpy's fixed cost is ~100 µs a batch)
_BATCH_MIN = 4
# the features of one reply, in order: (term, x_f, per-class coefficients)
_Present = list[tuple[str, float, tuple[float, ...]]]
# explain([(i, k, top), ...]): for each, the top features pushing text i towards class k
_Explainer = Callable[[Sequence[tuple[int, int, int]]], list[tuple[tuple[str, float], ...]]]


# ------------------------------------------------------------------------------ corpus


def load_replies(directory: str | os.PathLike[str]) -> pd.DataFrame:
    """All ``replies_*.csv`` files of ``directory`` as one DataFrame.

    Columns ``id, text, label, domain, channel, hard`` (``hard`` as int 0/1), plus ``file``
    (the file name each row came from). Rows keep file order; files are read in name order.
    A missing column, an unknown label, an empty text or a duplicate id is a ``ValueError``
    naming the file and line.
    """
    import pandas as pd

    root = Path(directory)
    paths = sorted(root.glob("replies_*.csv"))
    if not paths:
        raise ValueError(f"{root}: no replies_*.csv files")
    frames = [_read_replies_csv(p) for p in paths]
    df = pd.concat(frames, ignore_index=True)
    dup = df["id"].duplicated(keep="first")
    if dup.any():
        row = df[dup].iloc[0]
        first = df[df["id"] == row["id"]].iloc[0]
        raise ValueError(f"{row['file']}:{row['line']}: duplicate id {row['id']!r} "
                         f"(first at {first['file']}:{first['line']})")
    return df.drop(columns=["line"])


def _read_replies_csv(path: Path) -> pd.DataFrame:
    import pandas as pd

    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    missing = [c for c in REPLY_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} "
                         f"(found: {', '.join(map(str, df.columns))})")
    df = df[list(REPLY_COLUMNS)].copy()
    # the header is line 1; rows with quoted newlines would shift this, which the corpus
    # guide forbids
    df["line"] = range(2, len(df) + 2)
    df["file"] = path.name
    for i, row in df.iterrows():
        where = f"{path.name}:{row['line']}"
        if row["label"] not in LABELS:
            raise ValueError(f"{where}: unknown label {row['label']!r} "
                             f"(expected one of: {', '.join(LABELS)})")
        if not str(row["text"]).strip():
            raise ValueError(f"{where}: empty text")
        if row["hard"] not in ("0", "1"):
            raise ValueError(f"{where}: hard must be 0 or 1, got {row['hard']!r}")
        del i
    df["hard"] = df["hard"].astype(int)
    return df


def _as_frame(data: pd.DataFrame | str | os.PathLike[str]) -> pd.DataFrame:
    """A DataFrame with ``text`` and ``label`` from a frame, a CSV file or a corpus folder."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        df = data
    else:
        path = Path(data)
        if path.is_dir():
            df = load_replies(path)
        elif path.is_file():
            df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
        else:
            raise FileNotFoundError(f"{path}: no such file or directory")
    for col in ("text", "label"):
        if col not in df.columns:
            raise ValueError(f"training data needs columns 'text' and 'label' "
                             f"(found: {', '.join(map(str, df.columns))})")
    return df


def data_sha256(texts: Sequence[str], labels: Sequence[str]) -> str:
    """SHA-256 of the training rows (texts and labels, in order), independent of file layout."""
    h = hashlib.sha256()
    for t, y in zip(texts, labels, strict=True):
        h.update(json.dumps([t, y], ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


# ---------------------------------------------------------------------------- features


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


# joins a batch for _normalize_replies: private use, so never produced by NFKC, not
# whitespace, and neither cased nor case-ignorable (lower()'s final-sigma rule stops at it);
# a starter that composes with nothing (NFKC of the join is the join of the NFKCs)
_BATCH_SEP = "\ue000"


def _normalize_replies(texts: Sequence[str]) -> list[str]:
    """``[normalize_reply(t) for t in texts]``, in one pass over the joined texts."""
    joined = _BATCH_SEP.join(texts)
    if joined.count(_BATCH_SEP) != len(texts) - 1:  # a text contains the separator
        return [normalize_reply(t) for t in texts]
    folded = _WHITESPACE.sub(" ", _nfkc(joined).lower())
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
    from .tokenize import JiebaTokenizer

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


# --------------------------------------------------------------------------- estimator

_ESTIMATOR: Any = None


def _estimator_class() -> Any:
    """Create :class:`ToneClassifier` on first use (it needs scikit-learn)."""
    global _ESTIMATOR
    if _ESTIMATOR is not None:
        return _ESTIMATOR
    import numpy as np
    import scipy.sparse as sp
    from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.utils.validation import check_is_fitted
    from threadpoolctl import threadpool_limits

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

    _TermBlock.__module__ = __name__
    _TermBlock.__qualname__ = "_TermBlock"

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
                import sklearn

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

    ToneClassifier.__module__ = __name__
    ToneClassifier.__qualname__ = "ToneClassifier"
    _ESTIMATOR = ToneClassifier
    return ToneClassifier


def __getattr__(name: str) -> Any:
    if name == "ToneClassifier":
        return _estimator_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if TYPE_CHECKING:
    ToneClassifier: Any


def _has_temperature_scaling() -> bool:
    from sklearn.calibration import CalibratedClassifierCV

    constraints = CalibratedClassifierCV._parameter_constraints.get("method", [])
    return any("temperature" in getattr(c, "options", ()) for c in constraints)


def _texts(X: Iterable[str]) -> list[str]:
    if isinstance(X, str):
        raise TypeError("expected a list of texts, got a single str")
    texts = [x for x in X]
    for x in texts:
        if not isinstance(x, str):
            raise TypeError(f"expected texts (str), got {type(x).__name__}")
    return texts


def _export(est: Any, metadata: dict[str, Any]) -> dict[str, Any]:
    pipe = est.pipeline_
    lr = pipe.named_steps["lr"]
    classes = [str(c) for c in est.classes_]
    coef = lr.coef_
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
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "phrasecheck_version": __version__,
        **metadata,
        "classes": classes,
        "features": {"normalize": "nfkc-lower-space/1", "blocks": blocks},
        "intercept": [float(v) for v in lr.intercept_],
        "calibration": calibration,
    }


# ------------------------------------------------------------------------------ model


@dataclass(frozen=True, slots=True)
class _Block:
    kind: str
    ngram_range: tuple[int, int]
    sublinear_tf: bool
    weight: float
    terms: dict[str, tuple[float, tuple[float, ...]]]


class ToneModel:
    """A fitted reply-tone model as plain weights; ``predict`` needs no scikit-learn.

    Build one with :func:`train_model`, :meth:`ToneClassifier.to_model` or
    :func:`load_model`. Immutable after construction and safe to share between threads.
    """

    def __init__(self, spec: Mapping[str, Any], *, source: str = "<dict>") -> None:
        _validate(spec, source)
        self._spec = dict(spec)
        self.classes: tuple[str, ...] = tuple(spec["classes"])
        self._n = len(self.classes)
        self._intercept = tuple(float(v) for v in spec["intercept"])
        cal = spec["calibration"]
        self._cal_method: str = cal["method"]
        self._beta = float(cal.get("beta", 1.0))
        self._a = tuple(float(v) for v in cal.get("a", ()))
        self._b = tuple(float(v) for v in cal.get("b", ()))
        self._blocks = tuple(
            _Block(kind=b["kind"], ngram_range=(int(b["ngram_range"][0]),
                                                int(b["ngram_range"][1])),
                   sublinear_tf=bool(b["sublinear_tf"]), weight=float(b["weight"]),
                   terms={t: (float(v[0]), tuple(float(c) for c in v[1:]))
                          for t, v in b["terms"].items()})
            for b in spec["features"]["blocks"])
        self._batch: Any = None  # the numpy batch scorer, built on first batch use

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
        return {k: v for k, v in self._spec.items()
                if k not in ("features", "intercept", "calibration")}

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self._spec.get("metrics") or {})

    def to_dict(self) -> dict[str, Any]:
        copy: dict[str, Any] = json.loads(json.dumps(self._spec))  # a deep copy
        return copy

    def to_json(self) -> str:
        """The model file's text: deterministic (sorted keys, exact float repr)."""
        return json.dumps(self._spec, ensure_ascii=False, sort_keys=True,
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
        per-feature update is unrolled for the usual three classes."""
        n = self._n
        scores = list(self._intercept)
        present: _Present = []
        norm = normalize_reply(text)
        log, sqrt = math.log, math.sqrt
        for b in self._blocks:
            terms = b.terms
            counts = Counter(_featurize(b.kind, norm, b.ngram_range))
            vals = []
            sq = 0.0
            sublinear = b.sublinear_tf
            for f, c in counts.items():
                entry = terms.get(f)
                if entry is None:
                    continue
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
        """Load the tokenizer and build the batch scorer's tables now (~0.2 s) rather than
        on first use: before forking workers, say, so that they share them."""
        _feature_tokenizer().lcut("您好")
        self._batch_scorer()
        return self

    def _batch_scorer(self) -> Any:
        """The vectorised scorer (:mod:`phrasecheck._tonevec`), built once on first use;
        ``False`` when this model's n-gram ranges need the per-reply path. Two threads may
        both build it the first time; either result is the same, and assignment is atomic."""
        if self._batch is None:
            from . import _tonevec

            self._batch = _tonevec.build(self._blocks, self._intercept,
                                         _feature_tokenizer().lcut) or False
        return self._batch

    def _many_scores(self, texts: Sequence[str]) -> tuple[list[list[float]], _Explainer]:
        """Decision values of many texts, and ``explain([(i, k, top), ...])`` giving the
        explanations of texts ``i`` towards classes ``k``.
        numpy scores the batch at once when there are enough texts to pay for it, with the
        same floats, bit for bit, as :meth:`_scores`, and the same explanations."""
        if len(texts) >= _BATCH_MIN:
            scorer = self._batch_scorer()
            if scorer:
                batch = scorer.score(_normalize_replies(texts))
                return batch.scores, batch.explain
        return ([self._scores(t)[0] for t in texts],
                lambda wanted: [self._explain(k, self._scores(texts[i])[1], top)
                                for i, k, top in wanted])

    def predict_proba(self, texts: Iterable[str]) -> list[list[float]]:
        """Probabilities per text, in the order of :attr:`classes`."""
        return [self._calibrate(s) for s in self._many_scores(_texts(texts))[0]]

    def predict(self, texts: Iterable[str], *, explain: int | None = None
                ) -> list[ToneResult]:
        """One :class:`ToneResult` per text; ``features`` holds up to ``explain`` features
        that pushed most towards the predicted label, with their contributions to its
        decision value (a feature inside a stronger one, such as ``不懂`` inside ``听不懂``,
        is not repeated; word bigrams are shown joined).

        By default (``explain=None``) only flagged replies (label other than ``ok``) are
        explained, with 5 features: explaining costs about as much as predicting, and batch
        scoring classifies every agent turn. Pass a number to explain every reply.

        A text that occurs more than once (canned replies, 好的, 请稍等) is scored once."""
        items = _texts(texts)
        unique = list(dict.fromkeys(items))
        if len(unique) == len(items):
            return self._predict(items, explain)
        first = dict(zip(unique, self._predict(unique, explain), strict=True))
        out, seen = [], set()
        for t in items:
            r = first[t]
            if t in seen:  # a result of its own: probabilities is a plain dict
                r = ToneResult(label=r.label, probabilities=dict(r.probabilities),
                               features=r.features)
            seen.add(t)
            out.append(r)
        return out

    def _predict(self, texts: list[str], explain: int | None) -> list[ToneResult]:
        classes = self.classes
        all_scores, explainer = self._many_scores(texts)
        verdicts = []
        wanted = []
        calibrate = self._calibrate
        for i, scores in enumerate(all_scores):
            probs = calibrate(scores)
            k = probs.index(max(probs))  # the first of equal maxima, as max(range(n), key=)
            top = (5 if classes[k] != "ok" else 0) if explain is None else explain
            if top:
                wanted.append((i, k, top))
            verdicts.append((k, probs))
        features = dict(zip((i for i, _, _ in wanted), explainer(wanted), strict=True))
        return [ToneResult(label=classes[k], probabilities=dict(zip(classes, probs, strict=True)),
                           features=features.get(i, ()))
                for i, (k, probs) in enumerate(verdicts)]

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


def _softmax(z: Sequence[float]) -> list[float]:
    m = max(z)
    e = [math.exp(v - m) for v in z]
    s = sum(e)
    return [v / s for v in e]


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
    if version != FORMAT_VERSION:
        raise bad(f"model format version {version!r} is not supported by phrasecheck "
                  f"{__version__} (supported: {FORMAT_VERSION}); retrain it with "
                  f"`phrasecheck train` or install the phrasecheck version that wrote it "
                  f"({spec.get('phrasecheck_version', 'unknown')})")
    classes = spec.get("classes")
    if (not isinstance(classes, list) or len(classes) < 2
            or not all(isinstance(c, str) for c in classes) or len(set(classes)) != len(classes)):
        raise bad("'classes' must be a list of at least two distinct labels")
    n = len(classes)
    if not _numbers(spec.get("intercept"), n):
        raise bad(f"'intercept' must be {n} finite numbers")
    cal = spec.get("calibration")
    if not isinstance(cal, Mapping) or cal.get("method") not in _CALIBRATIONS:
        raise bad(f"'calibration.method' must be one of {', '.join(_CALIBRATIONS)}")
    if cal["method"] == "temperature" and not _numbers([cal.get("beta")], 1):
        raise bad("temperature calibration needs a finite 'beta'")
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
                or not all(isinstance(v, int) and v >= 1 for v in rng) or rng[0] > rng[1]):
            raise bad(f"{where}.ngram_range must be [lo, hi] with 1 <= lo <= hi")
        if not isinstance(b.get("sublinear_tf"), bool) or not _numbers([b.get("weight")], 1):
            raise bad(f"{where}: 'sublinear_tf' (bool) and 'weight' (number) are required")
        terms = b.get("terms")
        if not isinstance(terms, Mapping):
            raise bad(f"{where}.terms must be an object")
        for t, v in terms.items():
            if not _numbers(v, n + 1):
                raise bad(f"{where}.terms[{t!r}] must be [idf, one coefficient per class] "
                          f"({n + 1} finite numbers)")


def _numbers(v: Any, n: int) -> bool:
    return (isinstance(v, list) and len(v) == n
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                    for x in v))


# ------------------------------------------------------------------------- load / path


def default_model_path() -> Traversable | None:
    """The bundled model file, or ``None`` when this installation ships none."""
    from importlib.resources import files

    path = files("phrasecheck") / "models" / "tone.json"
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
    try:
        spec = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ModelError(f"{name}: not a JSON tone model (not UTF-8 text: {e})") from e
    except json.JSONDecodeError as e:
        if raw.rstrip().endswith(b"."):
            raise ModelError(f"{name}: this looks like a (protocol 0) pickle file; "
                             f"phrasecheck never loads pickles") from e
        raise ModelError(f"{name}: corrupt model file: invalid JSON at line {e.lineno}, "
                         f"column {e.colno}: {e.msg}") from e
    return ToneModel(spec, source=name)


# ---------------------------------------------------------------------------- training


def train_model(data: pd.DataFrame | str | os.PathLike[str], *, seed: int = 0,
                cv_metrics: bool = True, **params: Any) -> ToneModel:
    """Fit a :class:`ToneClassifier` on ``data`` (a DataFrame with ``text`` and ``label``,
    a CSV file, or a folder of ``replies_*.csv``) and export it as a :class:`ToneModel`.

    ``params`` are :class:`ToneClassifier` parameters. With ``cv_metrics`` the file also
    records 5-fold cross-validated metrics on the training data. Reproducible: the same rows,
    seed and parameters give the identical JSON.
    """
    import sklearn

    df = _as_frame(data)
    texts = [str(t) for t in df["text"]]
    labels = [str(v) for v in df["label"]]
    cls = _estimator_class()
    est = cls(random_state=seed, **params)
    est.fit(texts, labels)
    metadata: dict[str, Any] = {
        "sklearn_version": sklearn.__version__,
        "training": {
            "data_sha256": data_sha256(texts, labels),
            "n_rows": len(texts),
            "label_counts": {k: labels.count(k) for k in sorted(set(labels))},
            "seed": seed,
            "params": _jsonable(est.get_params()),
        },
        "metrics": {},
    }
    if cv_metrics:
        metadata["metrics"]["cv5"] = cross_validate_metrics(texts, labels, seed=seed,
                                                            **params)
    model: ToneModel = est.to_model(metadata)
    return model


def cross_validate_metrics(texts: Sequence[str], labels: Sequence[str], *, seed: int = 0,
                           folds: int = 5, **params: Any) -> dict[str, Any]:
    """Stratified k-fold metrics of a ToneClassifier with ``params`` on these rows."""
    from sklearn.model_selection import StratifiedKFold

    cls = _estimator_class()
    preds: list[str] = [""] * len(texts)
    probs: list[list[float]] = [[] for _ in texts]
    classes: list[str] = []
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for tr, te in skf.split(list(texts), list(labels)):
        est = cls(random_state=seed, **params).fit([texts[i] for i in tr],
                                                   [labels[i] for i in tr])
        classes = [str(c) for c in est.classes_]
        p = est.predict_proba([texts[i] for i in te])
        for j, i in enumerate(te):
            probs[i] = [float(v) for v in p[j]]
            preds[i] = classes[max(range(len(classes)), key=probs[i].__getitem__)]
    report = EvalReport.from_predictions(labels, preds, probs=probs, classes=classes)
    return report.to_dict()


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in sorted(v.items())}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return repr(v)


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class EvalReport:
    """Per-class precision/recall/F1, macro-F1, accuracy, confusion matrix and, when
    probabilities are known, the multi-class Brier score and expected calibration error."""

    labels: tuple[str, ...]
    precision: dict[str, float]
    recall: dict[str, float]
    f1: dict[str, float]
    support: dict[str, int]
    macro_f1: float
    accuracy: float
    confusion: tuple[tuple[int, ...], ...]  # rows: true label, columns: predicted
    n: int
    brier: float | None = None
    ece: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_predictions(cls, y_true: Sequence[str], y_pred: Sequence[str], *,
                         probs: Sequence[Sequence[float]] | None = None,
                         classes: Sequence[str] | None = None,
                         labels: Sequence[str] | None = None) -> EvalReport:
        present = set(y_true) | set(y_pred)
        order = list(labels) if labels else [c for c in LABELS if c in present] + sorted(
            present - set(LABELS))
        idx = {c: i for i, c in enumerate(order)}
        conf = [[0] * len(order) for _ in order]
        for t, p in zip(y_true, y_pred, strict=True):
            conf[idx[t]][idx[p]] += 1
        prec, rec, f1, sup = {}, {}, {}, {}
        for c, i in idx.items():
            tp = conf[i][i]
            col = sum(conf[r][i] for r in range(len(order)))
            row = sum(conf[i])
            prec[c] = tp / col if col else 0.0
            rec[c] = tp / row if row else 0.0
            f1[c] = (2 * prec[c] * rec[c] / (prec[c] + rec[c])) if prec[c] + rec[c] else 0.0
            sup[c] = row
        with_support = [c for c in order if sup[c]]
        macro = sum(f1[c] for c in with_support) / len(with_support) if with_support else 0.0
        n = len(y_true)
        acc = sum(conf[i][i] for i in range(len(order))) / n if n else 0.0
        brier = ece = None
        if probs is not None and classes is not None and n:
            brier, ece = _calibration_figures(y_true, probs, list(classes))
        return cls(labels=tuple(order), precision=prec, recall=rec, f1=f1, support=sup,
                   macro_f1=macro, accuracy=acc, confusion=tuple(tuple(r) for r in conf),
                   n=n, brier=brier, ece=ece)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "n": self.n, "labels": list(self.labels), "macro_f1": round(self.macro_f1, 4),
            "accuracy": round(self.accuracy, 4),
            "per_class": {c: {"precision": round(self.precision[c], 4),
                              "recall": round(self.recall[c], 4),
                              "f1": round(self.f1[c], 4), "support": self.support[c]}
                          for c in self.labels},
            "confusion": [list(r) for r in self.confusion],
        }
        if self.brier is not None:
            d["brier"] = round(self.brier, 4)
        if self.ece is not None:
            d["ece"] = round(self.ece, 4)
        return d

    def table(self) -> str:
        """A Markdown table of per-class figures followed by the confusion matrix."""
        lines = ["| label | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
        for c in self.labels:
            lines.append(f"| {c} | {self.precision[c]:.3f} | {self.recall[c]:.3f} | "
                         f"{self.f1[c]:.3f} | {self.support[c]} |")
        lines.append(f"| **macro** | | | **{self.macro_f1:.3f}** | {self.n} |")
        lines += ["", "| true \\ predicted | " + " | ".join(self.labels) + " |",
                  "|---|" + "---:|" * len(self.labels)]
        for c, row in zip(self.labels, self.confusion, strict=True):
            lines.append(f"| {c} | " + " | ".join(str(v) for v in row) + " |")
        return "\n".join(lines)

    def __str__(self) -> str:
        w = max(8, *(len(c) for c in self.labels))
        out = [f"{'label':<{w}} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8}"]
        for c in self.labels:
            out.append(f"{c:<{w}} {self.precision[c]:>9.3f} {self.recall[c]:>7.3f} "
                       f"{self.f1[c]:>6.3f} {self.support[c]:>8d}")
        out.append(f"{'macro-F1':<{w}} {'':>9} {'':>7} {self.macro_f1:>6.3f} {self.n:>8d}")
        out.append(f"accuracy {self.accuracy:.3f}"
                   + (f"   Brier {self.brier:.4f}" if self.brier is not None else "")
                   + (f"   ECE {self.ece:.4f}" if self.ece is not None else ""))
        out.append("")
        out.append("confusion (rows: true, columns: predicted)")
        out.append(" " * (w + 1) + " ".join(f"{c:>8}" for c in self.labels))
        for c, row in zip(self.labels, self.confusion, strict=True):
            out.append(f"{c:<{w}} " + " ".join(f"{v:>8d}" for v in row))
        return "\n".join(out)


def _calibration_figures(y_true: Sequence[str], probs: Sequence[Sequence[float]],
                         classes: list[str], bins: int = 10) -> tuple[float, float]:
    """Multi-class Brier score (mean squared error over the class vector, sum over classes)
    and the expected calibration error of the top-class confidence (10 equal-width bins)."""
    n = len(y_true)
    brier = 0.0
    bin_n = [0] * bins
    bin_conf = [0.0] * bins
    bin_acc = [0.0] * bins
    for t, p in zip(y_true, probs, strict=True):
        for c, v in zip(classes, p, strict=True):
            brier += (v - (1.0 if c == t else 0.0)) ** 2
        k = max(range(len(p)), key=p.__getitem__)
        b = min(bins - 1, int(p[k] * bins))
        bin_n[b] += 1
        bin_conf[b] += p[k]
        bin_acc[b] += 1.0 if classes[k] == t else 0.0
    ece = sum(abs(bin_acc[b] - bin_conf[b]) for b in range(bins) if bin_n[b]) / n
    return brier / n, ece


def evaluate_model(model: ToneModel | str | os.PathLike[str] | Traversable,
                   data: pd.DataFrame | str | os.PathLike[str]) -> EvalReport:
    """Score ``model`` (a ToneModel or a model path) on labelled ``data``."""
    m = model if isinstance(model, ToneModel) else load_model(model)
    df = _as_frame(data)
    texts = [str(t) for t in df["text"]]
    y_true = [str(v) for v in df["label"]]
    unknown = sorted(set(y_true) - set(m.classes))
    if unknown:
        raise ValueError(f"labels {unknown} are not classes of the model "
                         f"({', '.join(m.classes)})")
    results = m.predict(texts, explain=0)
    probs = [[r.probabilities[c] for c in m.classes] for r in results]
    return EvalReport.from_predictions(y_true, [r.label for r in results], probs=probs,
                                       classes=m.classes)
