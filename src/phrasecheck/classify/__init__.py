"""The reply-tone classifier: is an agent's reply ``ok``, ``rude`` or ``evasive``?

Two halves, on purpose:

* **Training** uses scikit-learn. :class:`ToneClassifier` is an ordinary estimator (TF-IDF of
  character n-grams and jieba word tokens → multinomial logistic regression → probability
  calibration by :class:`~sklearn.calibration.CalibratedClassifierCV`). :func:`train_model`
  fits it and exports the fitted weights to a :class:`ToneModel`.
* **Prediction** needs no scikit-learn. A :class:`ToneModel` is the fitted pipeline as plain
  numbers, saved as JSON; one reply is scored in pure Python, a batch in numpy, with the same
  probabilities to the bit.

One module per job, each readable on its own:

=================  =====================================================================
``corpus``         the labelled reply corpus (``replies_*.csv``) → a validated DataFrame
``features``       reply normalisation and the character / jieba-word n-gram features
``estimator``      :class:`ToneClassifier`, the scikit-learn estimator, and its export
``training``       :func:`train_model`, :func:`cross_validate_metrics`
``model``          :class:`ToneModel` (prediction), the JSON model format, :func:`load_model`
``evaluation``     :class:`EvalReport` (per-class figures, Brier score, ECE),
                   :func:`evaluate_model`
=================  =====================================================================

Nothing happens at import time: pandas and jieba are imported on first use, and the
estimator and training modules (which import scikit-learn, most of a second, while
predicting needs none of it) are imported when ``ToneClassifier``, ``train_model`` or
``cross_validate_metrics`` is first asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .corpus import LABELS, REPLY_COLUMNS, data_sha256, load_replies
from .evaluation import EvalReport, evaluate_model
from .features import char_ngrams, featurize, normalize_reply, word_ngrams
from .model import FORMAT, FORMAT_VERSION, ToneModel, default_model_path, load_model

if TYPE_CHECKING:
    from .estimator import ToneClassifier
    from .training import cross_validate_metrics, train_model

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "LABELS",
    "REPLY_COLUMNS",
    "EvalReport",
    "ToneClassifier",
    "ToneModel",
    "char_ngrams",
    "cross_validate_metrics",
    "data_sha256",
    "default_model_path",
    "evaluate_model",
    "featurize",
    "load_model",
    "load_replies",
    "normalize_reply",
    "train_model",
    "word_ngrams",
]

# names whose modules import scikit-learn: imported on first access (PEP 562)
_NEED_SKLEARN = {"ToneClassifier": "estimator", "train_model": "training",
                 "cross_validate_metrics": "training"}


def __getattr__(name: str) -> Any:
    module = _NEED_SKLEARN.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_NEED_SKLEARN))
