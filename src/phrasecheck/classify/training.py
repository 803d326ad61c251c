"""Training runs: fit a :class:`~.estimator.ToneClassifier` on labelled replies, record how
it was trained (data hash, parameters, cross-validated metrics) and export it as a
:class:`~.model.ToneModel`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sklearn
from sklearn.model_selection import StratifiedKFold

from .corpus import _as_frame, data_sha256, fine_labels
from .estimator import ToneClassifier
from .evaluation import EvalReport
from .model import ToneModel

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["cross_validate_metrics", "train_model"]


def train_model(data: pd.DataFrame | str | os.PathLike[str], *, seed: int = 0,
                cv_metrics: bool = True, **params: Any) -> ToneModel:
    """Fit a :class:`ToneClassifier` on ``data`` (a DataFrame with ``text`` and ``label``,
    and optionally ``sub``; a CSV file, or a folder of ``replies_*.csv``) and export it as a
    :class:`ToneModel` whose probabilities are for the default deployment prior
    (:data:`~.model.DEFAULT_DEPLOY_PRIOR`; :meth:`ToneModel.with_prior` sets another).

    ``params`` are :class:`ToneClassifier` parameters. With ``cv_metrics`` the file also
    records 5-fold cross-validated metrics on the training data. Reproducible: the same rows,
    seed and parameters give the identical JSON.
    """
    df = _as_frame(data)
    texts = [str(t) for t in df["text"]]
    # evasive replies with a sub-category (a ``sub`` column) train the deflect / stonewall
    # classes; the model answers for them as "evasive" and names the sub-category
    labels = [str(v) for v in (fine_labels(df) if "sub" in df.columns else df["label"])]
    est = ToneClassifier(random_state=seed, **params)
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
    preds: list[str] = [""] * len(texts)
    probs: list[list[float]] = [[] for _ in texts]
    classes: list[str] = []
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for tr, te in skf.split(list(texts), list(labels)):
        est = ToneClassifier(random_state=seed, **params).fit([texts[i] for i in tr],
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

