"""Evaluation: per-class precision/recall/F1, the confusion matrix, the Brier score and the
expected calibration error, as an :class:`EvalReport`; :func:`evaluate_model` scores a model
on labelled replies. Pure Python: no scikit-learn.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.abc import Traversable
from typing import TYPE_CHECKING, Any

from .corpus import LABELS, _as_frame
from .model import ToneModel, load_model

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["EvalReport", "evaluate_model"]


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
                   data: pd.DataFrame | str | os.PathLike[str], *,
                   prior: str = "deploy") -> EvalReport:
    """Score ``model`` (a ToneModel or a model path) on labelled ``data``, by its public
    labels (``ok`` / ``rude`` / ``evasive``).

    ``prior="deploy"`` (default) judges the labels the model gives in use, at its deployment
    prior (few rude or evasive replies expected); ``prior="train"`` judges them at the
    training rows' class mix (the arg-max a balanced test set rewards).
    """
    m = model if isinstance(model, ToneModel) else load_model(model)
    if prior not in ("deploy", "train"):
        raise ValueError(f"prior={prior!r}: expected 'deploy' or 'train'")
    if prior == "train" and m.prior.get("train"):
        m = m.with_prior(m.prior["train"])
    df = _as_frame(data)
    texts = [str(t) for t in df["text"]]
    y_true = [str(v) for v in df["label"]]
    unknown = sorted(set(y_true) - set(m.labels))
    if unknown:
        raise ValueError(f"labels {unknown} are not labels of the model "
                         f"({', '.join(m.labels)})")
    results = m.predict(texts, explain=0)
    probs = [[r.probabilities[c] for c in m.labels] for r in results]
    return EvalReport.from_predictions(y_true, [r.label for r in results], probs=probs,
                                       classes=list(m.labels))
