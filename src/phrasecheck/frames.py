"""pandas conversions: tidy frames of scores, rule results and findings.

Column names equal the dataclass field names (plus ``conversation_id`` where a row belongs to
a conversation). Codes and categories are categoricals, positions are nullable integers.
pandas is imported inside the functions, so ``import phrasecheck`` stays fast.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from .types import ConversationScore, Finding, RuleResult

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["findings_frame", "rule_results_frame", "score_frame", "scores_frame"]

FINDING_COLUMNS = ["conversation_id"] + [f.name for f in fields(Finding)]
RULE_COLUMNS = ["conversation_id", "rule_id", "title", "passed", "outcome", "deduction", "veto",
                "basis", "message", "n_evidence"]
_CATEGORICAL_FINDING = ("code", "category", "kind", "severity", "source", "role", "basis")
_INT_FINDING = ("turn", "start", "end")
_META_COLUMNS = ("agent_id", "domain", "channel", "source", "format")


def findings_frame(scores: Iterable[ConversationScore]) -> pd.DataFrame:
    """One row per finding, in conversation and turn order."""
    import pandas as pd

    rows = [(s.id, *(getattr(f, c) for c in FINDING_COLUMNS[1:]))
            for s in scores for f in s.findings]
    df = pd.DataFrame.from_records(rows, columns=FINDING_COLUMNS)
    return _finding_dtypes(df)


def _finding_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    df["conversation_id"] = df["conversation_id"].astype("string")
    for c in _CATEGORICAL_FINDING:
        df[c] = df[c].astype("category")
    for c in _INT_FINDING:
        df[c] = df[c].astype("Int64")
    for c in ("phrase", "text", "suggestion", "explanation"):
        df[c] = df[c].astype("string")
    df["score"] = df["score"].astype("float64")
    return df


def rule_results_frame(scores: Iterable[ConversationScore]) -> pd.DataFrame:
    """One row per (conversation, rule): the tidy view of every rule outcome."""
    import pandas as pd

    rows = [_rule_row(s.id, r) for s in scores for r in s.rule_results]
    df = pd.DataFrame.from_records(rows, columns=RULE_COLUMNS)
    df["conversation_id"] = df["conversation_id"].astype("string")
    for c in ("rule_id", "outcome", "basis"):
        df[c] = df[c].astype("category")
    df["passed"] = df["passed"].astype("boolean")
    df["deduction"] = df["deduction"].astype("float64")
    df["veto"] = df["veto"].astype("bool")
    df["n_evidence"] = df["n_evidence"].astype("Int64")
    return df


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
    for r in s.rule_results:
        if rule_ids is None or r.rule_id in rule_ids:
            row[f"rule_{r.rule_id}"] = r.outcome
    return row


def scores_frame(scores: Iterable[ConversationScore]) -> pd.DataFrame:
    """One row per conversation: score, grade, veto, counts, metadata and one
    ``rule_<id>`` column per rule holding ``pass``/``fail``/``na``."""
    import pandas as pd

    df = pd.DataFrame([score_row(s) for s in scores])
    if df.empty:
        df = pd.DataFrame(columns=["id", "score", "grade", "vetoed", "policy", "n_findings",
                                   "n_banned", "failed_rules", "deduction", *_META_COLUMNS])
    return _score_dtypes(df)


def _score_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    df["id"] = df["id"].astype("string")
    df["score"] = df["score"].astype("float64")
    df["vetoed"] = df["vetoed"].astype("bool")
    df["n_findings"] = df["n_findings"].astype("Int64")
    df["n_banned"] = df["n_banned"].astype("Int64")
    df["deduction"] = df["deduction"].astype("float64")
    for c in ("grade", "policy", *_META_COLUMNS, *[c for c in df if c.startswith("rule_")]):
        if c in df:
            df[c] = df[c].astype("category")
    df["failed_rules"] = df["failed_rules"].astype("string")
    return df


def score_frame(
    df: pd.DataFrame,
    *,
    id: str = "conversation_id",
    role: str = "role",
    text: str = "text",
    start: str | None = None,
    end: str | None = None,
    speaker: str | None = None,
    metadata: Sequence[str] | None = None,
    policy: Any = "default",
    analyzer: Any = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score a DataFrame of turns (one row per turn); returns ``(scores, findings)`` frames.

    Rows of a conversation must be contiguous or share an id (they are grouped by ``id``
    in order of first appearance).
    """
    from .analyzer import Analyzer
    from .readers import conversations_from_frame

    a = analyzer if analyzer is not None else Analyzer(policy=policy)
    convs = conversations_from_frame(df, id=id, role=role, text=text, start=start, end=end,
                                     speaker=speaker, metadata=metadata)
    scores = [a.score(c) for c in convs]
    return scores_frame(scores), findings_frame(scores)


def register_accessor() -> None:
    """Register ``df.phrasecheck`` (done on first use of :func:`score_frame` users import)."""
    import pandas as pd

    if "phrasecheck" in getattr(pd.DataFrame, "_accessors", set()):
        return

    @pd.api.extensions.register_dataframe_accessor("phrasecheck")
    class _PhrasecheckAccessor:
        """``df.phrasecheck.score(id=..., role=..., text=...)`` and ``.check(column)``."""

        def __init__(self, obj: pd.DataFrame) -> None:
            self._df = obj

        def score(self, **kwargs: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
            return score_frame(self._df, **kwargs)

        def check(self, column: str = "text", *, role: str = "agent",
                  analyzer: Any = None) -> pd.DataFrame:
            """Findings for every row's text: one row per finding, ``row`` = the index label."""
            from .analyzer import Analyzer

            a = analyzer if analyzer is not None else Analyzer()
            records = []
            for label, value in self._df[column].items():
                for f in a.check_text(str(value), role=role):
                    records.append({"row": label, **f.to_dict()})
            out = pd.DataFrame(records, columns=["row", *[f.name for f in fields(Finding)]])
            return out
