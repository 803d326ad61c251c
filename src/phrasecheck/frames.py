"""pandas conversions: tidy frames of scores, rule results and findings, and ``df.phrasecheck``.

Column names equal the dataclass field names (plus ``conversation_id`` where a row belongs to
a conversation). Dtypes are fixed whatever the data (an empty frame has the same columns and
dtypes as a full one):

* ids and free text: ``string``; codes, categories, grades, outcomes, metadata: ``category``
  (``severity`` ordered ``info < minor < major < critical``; ``grade`` ordered worst to best
  when the policy is known; ``rule_<id>`` columns always have the categories
  ``pass``/``fail``/``na``);
* counts and positions: nullable ``Int64``; scores and deductions: ``float64``;
  ``vetoed``/``veto``: ``bool``; ``passed``: nullable ``boolean`` (NA = rule did not apply).

pandas is imported inside the functions, so ``import phrasecheck`` (and ``import
phrasecheck.frames``) stays fast and imports nothing.

The ``df.phrasecheck`` accessor is registered in pandas' accessor registry (and nowhere
else) the first time any function of this module runs, by :func:`register_accessor`, or
when this module is imported while pandas is already imported (accessing
``phrasecheck.score_frame`` imports it) — never by importing pandas on its own behalf.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any, NamedTuple

from .types import KINDS, ROLES, SEVERITIES, ConversationScore, Finding, ReadError, RuleResult

if TYPE_CHECKING:
    import pandas as pd

    from .analyzer import Analyzer
    from .policy import Policy

__all__ = [
    "ACCESSOR_NAME",
    "FINDING_COLUMNS",
    "RULE_COLUMNS",
    "SCORE_COLUMNS",
    "PhrasecheckAccessor",
    "ScoredFrames",
    "findings_frame",
    "register_accessor",
    "rule_results_frame",
    "score_frame",
    "score_row",
    "scores_frame",
]

ACCESSOR_NAME = "phrasecheck"
FINDING_COLUMNS = ["conversation_id"] + [f.name for f in fields(Finding)]
RULE_COLUMNS = ["conversation_id", "rule_id", "title", "passed", "outcome", "deduction", "veto",
                "basis", "message", "n_evidence"]
_META_COLUMNS = ("agent_id", "domain", "channel", "source", "format", "layout")
#: the confidence of inferred speaker roles (undiarised or speaker-labelled transcripts)
_ROLE_CONFIDENCE = "role_confidence"
SCORE_COLUMNS = ["id", "score", "grade", "vetoed", "policy", "n_findings", "n_banned",
                 "failed_rules", "deduction", *_META_COLUMNS, _ROLE_CONFIDENCE]
OUTCOMES = ("pass", "fail", "na")

_FINDING_CATEGORICAL = ("code", "category", "basis")
_FINDING_KNOWN: dict[str, tuple[tuple[str, ...], bool]] = {
    # column: (categories always present, ordered)
    "kind": (KINDS, False),
    "severity": (SEVERITIES, True),
    "source": (("lexicon", "classifier", "rule"), False),
    "role": (ROLES, False),
    "subcategory": (("rude", "deflect", "stonewall"), False),
}
_FINDING_INT = ("turn", "start", "end")
_FINDING_STRING = ("phrase", "text", "suggestion", "explanation")


# ------------------------------------------------------------------------------ dtypes


def _categorical(series: pd.Series, known: Sequence[str] = (), ordered: bool = False
                 ) -> pd.Series:
    """``series`` as a categorical whose categories are ``known`` (in that order) followed by
    any other values found, sorted; ordered only when no unknown value turned up."""
    import pandas as pd

    values = {str(v) for v in series.dropna().unique()}
    extra = sorted(values - set(known))
    cats = [*known, *extra]
    # categories typed as text even when there are none, so empty and full frames agree
    dtype = pd.CategoricalDtype(pd.Index(cats, dtype=str), ordered=ordered and not extra)
    return series.map(lambda v: v if v is None or v is pd.NA or v != v else str(v)).astype(dtype)


def _finding_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    if "conversation_id" in df:
        df["conversation_id"] = df["conversation_id"].astype("string")
    for c in _FINDING_CATEGORICAL:
        df[c] = _categorical(df[c])
    for c, (known, ordered) in _FINDING_KNOWN.items():
        df[c] = _categorical(df[c], known, ordered)
    for c in _FINDING_INT:
        df[c] = df[c].astype("Int64")
    for c in _FINDING_STRING:
        df[c] = df[c].astype("string")
    df["score"] = df["score"].astype("float64")
    return df


# ------------------------------------------------------------------------------ frames


def findings_frame(scores: Iterable[ConversationScore]) -> pd.DataFrame:
    """One row per finding, in conversation and turn order."""
    import pandas as pd

    register_accessor()
    rows = [(s.id, *(getattr(f, c) for c in FINDING_COLUMNS[1:]))
            for s in scores for f in s.findings]
    df = pd.DataFrame.from_records(rows, columns=FINDING_COLUMNS)
    return _finding_dtypes(df)


def rule_results_frame(scores: Iterable[ConversationScore]) -> pd.DataFrame:
    """One row per (conversation, rule): the tidy view of every rule outcome."""
    import pandas as pd

    register_accessor()
    rows = [_rule_row(s.id, r) for s in scores for r in s.rule_results]
    df = pd.DataFrame.from_records(rows, columns=RULE_COLUMNS)
    df["conversation_id"] = df["conversation_id"].astype("string")
    df["rule_id"] = _categorical(df["rule_id"])
    df["outcome"] = _categorical(df["outcome"], OUTCOMES)
    df["basis"] = _categorical(df["basis"])
    for c in ("title", "message"):
        df[c] = df[c].astype("string")
    df["passed"] = df["passed"].astype("boolean")
    df["deduction"] = df["deduction"].astype("float64")
    df["veto"] = df["veto"].astype("bool")
    df["n_evidence"] = df["n_evidence"].astype("Int64")
    result: pd.DataFrame = df
    return result


def _rule_row(cid: str, r: RuleResult) -> tuple[Any, ...]:
    return (cid, r.rule_id, r.title, r.passed, r.outcome, r.deduction, r.veto, r.basis,
            r.message, len(r.evidence))


def score_row(s: ConversationScore, rule_ids: Sequence[str] | None = None) -> dict[str, Any]:
    """The flat record :func:`scores_frame` makes of one score (also used by the CLI)."""
    row: dict[str, Any] = {
        "id": s.id, "score": s.score, "grade": s.grade, "vetoed": s.vetoed, "policy": s.policy,
        "n_findings": len(s.findings),
        "n_banned": sum(1 for f in s.findings if f.kind == "banned"),
        "failed_rules": ",".join(r.rule_id for r in s.rule_results if r.passed is False),
        "deduction": sum(r.deduction for r in s.rule_results),
    }
    for key in _META_COLUMNS:
        value = s.metadata.get(key)
        row[key] = None if value is None else str(value)
    inferred = s.metadata.get("role_inference")
    conf = inferred.get("confidence") if isinstance(inferred, Mapping) else None
    row[_ROLE_CONFIDENCE] = float(conf) if isinstance(conf, (int, float)) else None
    for r in s.rule_results:
        if rule_ids is None or r.rule_id in rule_ids:
            row[f"rule_{r.rule_id}"] = r.outcome
    return row


def scores_frame(scores: Iterable[ConversationScore], *, policy: Policy | None = None
                 ) -> pd.DataFrame:
    """Tabulate results already computed: one row per :class:`ConversationScore`, with
    score, grade, veto, counts, metadata and one ``rule_<id>`` column per rule holding
    ``pass``/``fail``/``na``. Scores nothing: to score a DataFrame of turns, use
    :func:`score_frame` (which returns such a frame, and the findings).

    With ``policy``, ``grade`` is an ordered categorical of the policy's grades, worst to
    best (so ``df.grade >= "合格"`` selects passing conversations and counts list every
    grade), and every rule of the policy has its column even when there are no scores.
    """
    import pandas as pd

    register_accessor()
    rows = [score_row(s) for s in scores]
    rule_cols = [f"rule_{r.id}" for r in policy.rules] if policy is not None else []
    for row in rows:
        for c in row:
            if c.startswith("rule_") and c not in rule_cols:
                rule_cols.append(c)
    df = pd.DataFrame(rows, columns=[*SCORE_COLUMNS, *rule_cols])
    return _score_dtypes(df, policy)


def _score_dtypes(df: pd.DataFrame, policy: Policy | None) -> pd.DataFrame:
    df["id"] = df["id"].astype("string")
    df["score"] = df["score"].astype("float64")
    grades = [g.name for g in reversed(policy.grades)] if policy is not None else []
    df["grade"] = _categorical(df["grade"], grades, ordered=bool(grades))
    df["vetoed"] = df["vetoed"].astype("bool")
    df["policy"] = _categorical(df["policy"], [policy.name] if policy is not None else [])
    df["n_findings"] = df["n_findings"].astype("Int64")
    df["n_banned"] = df["n_banned"].astype("Int64")
    df["failed_rules"] = df["failed_rules"].astype("string")
    df["deduction"] = df["deduction"].astype("float64")
    for c in _META_COLUMNS:
        df[c] = _categorical(df[c])
    df[_ROLE_CONFIDENCE] = df[_ROLE_CONFIDENCE].astype("Float64")
    for c in df.columns:
        if str(c).startswith("rule_"):
            df[c] = _categorical(df[c], OUTCOMES)
    return df


# ------------------------------------------------------------------------- score_frame


class ScoredFrames(NamedTuple):
    """What :func:`score_frame` returns; unpacks as ``scores, findings = ...``."""

    scores: pd.DataFrame
    findings: pd.DataFrame


def score_frame(
    df: pd.DataFrame,
    *,
    id: str = "conversation_id",
    role: str = "role",
    text: str = "text",
    start: str | None = None,
    end: str | None = None,
    speaker: str | None = None,
    turn: str | None = None,
    metadata: Sequence[str] | None = None,
    role_map: Mapping[str, str] | None = None,
    policy: str | os.PathLike[str] | Policy | None = None,
    analyzer: Analyzer | None = None,
    on_error: Callable[[ReadError], None] | None = None,
) -> ScoredFrames:
    """Score a DataFrame of turns (one row per turn): group them into conversations, run
    the Analyzer on each, and return ``(scores, findings)`` frames. Use this when your
    transcripts are in pandas; :func:`scores_frame` only tabulates results you already have
    (from :meth:`Analyzer.score`, ``score_many`` or a batch run) and scores nothing.

    Rows are grouped by ``id`` in order of first appearance (within a conversation, row
    order is turn order, or the ``turn`` column's order). ``metadata`` lists the columns
    kept as conversation metadata (default: every column not otherwise used), so an
    ``agent_id`` column lands in the scores frame. Score with ``policy`` (a preset name,
    a file, a :class:`~phrasecheck.policy.Policy`; default ``"default"``) or with a prebuilt
    ``analyzer`` (faster when called repeatedly), not both.

    Rows that cannot be used (no text, no id) are passed to ``on_error``; without one, a
    single warning says how many rows were skipped and why.

    >>> import pandas as pd
    >>> turns = pd.DataFrame({"conversation_id": ["c1", "c1"], "role": ["agent", "customer"],
    ...                       "text": ["您好，这不归我管", "好吧"]})
    >>> scores, findings = score_frame(turns, analyzer=Analyzer(model=None))  # doctest: +SKIP
    """
    from .analyzer import Analyzer
    from .readers import conversations_from_frame

    if analyzer is not None and policy is not None:
        raise ValueError("score_frame(): pass policy= or analyzer=, not both "
                         "(an Analyzer already has its policy)")
    a = analyzer if analyzer is not None else Analyzer(
        policy=policy if policy is not None else "default")
    errors: list[ReadError] = []
    convs = conversations_from_frame(df, id=id, role=role, text=text, start=start, end=end,
                                     speaker=speaker, turn=turn, metadata=metadata,
                                     role_map=role_map,
                                     on_error=on_error if on_error is not None
                                     else errors.append)
    scores = list(a.score_many(convs))
    if errors:
        shown = "; ".join(str(e) for e in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        warnings.warn(f"score_frame(): skipped {len(errors)} row(s) or conversation(s): "
                      f"{shown}{more}", UserWarning, stacklevel=2)
    return ScoredFrames(scores_frame(scores, policy=a.policy), findings_frame(scores))


# ---------------------------------------------------------------------------- accessor


class PhrasecheckAccessor:
    """``df.phrasecheck``: phrasecheck on a DataFrame.

    * ``turns.phrasecheck.score(id=..., role=..., text=..., policy=...)``: a frame of turns
      scored as conversations; the same as :func:`score_frame`.
    * ``messages.phrasecheck.check("text")``: findings in every row's text, one row per
      finding, ``row`` holding the row's index label.
    """

    def __init__(self, obj: pd.DataFrame) -> None:
        self._df = obj

    def score(self, **kwargs: Any) -> ScoredFrames:
        """:func:`score_frame` on this frame (same keyword arguments)."""
        return score_frame(self._df, **kwargs)

    def check(self, column: str = "text", *, role: str = "agent",
              analyzer: Analyzer | None = None) -> pd.DataFrame:
        """Findings in every row's ``column`` (checked as ``role``): one row per finding,
        with ``row`` = the row's index label and the columns of :func:`findings_frame`
        (except ``conversation_id``). Missing values are skipped."""
        import pandas as pd

        from .analyzer import Analyzer

        if column not in self._df.columns:
            raise KeyError(f"no column {column!r} (columns: "
                           f"{', '.join(map(str, self._df.columns))})")
        a = analyzer if analyzer is not None else Analyzer()
        names = FINDING_COLUMNS[1:]
        records: list[tuple[Any, ...]] = []
        for label, value in self._df[column].items():
            if value is None or value is pd.NA or (isinstance(value, float) and value != value):
                continue
            for f in a.check_text(str(value), role=role):
                records.append((label, *(getattr(f, c) for c in names)))
        out = pd.DataFrame.from_records(records, columns=["row", *names])
        return _finding_dtypes(out)


def register_accessor() -> None:
    """Register ``df.phrasecheck`` with pandas (idempotent; imports pandas)."""
    import pandas as pd

    if ACCESSOR_NAME in getattr(pd.DataFrame, "_accessors", set()):
        return
    pd.api.extensions.register_dataframe_accessor(ACCESSOR_NAME)(PhrasecheckAccessor)


def _register_if_pandas_loaded() -> None:
    pd = sys.modules.get("pandas")
    if pd is not None and hasattr(pd, "api") and hasattr(pd, "DataFrame"):
        register_accessor()


_register_if_pandas_loaded()
