"""pandas frames: dtypes, score_frame against scoring one by one, the df.phrasecheck accessor."""

from __future__ import annotations

import subprocess
import sys
import warnings
from typing import Any

import pandas as pd
import pytest

import phrasecheck
from phrasecheck import Analyzer, Conversation, Lexicon, Turn
from phrasecheck.frames import (
    FINDING_COLUMNS,
    RULE_COLUMNS,
    SCORE_COLUMNS,
    ScoredFrames,
    findings_frame,
    register_accessor,
    rule_results_frame,
    score_frame,
    scores_frame,
)

SHIRK = "这不归我管"

# (column, dtype name) per frame; "category*" = categorical, with its fixed categories if any
SCORE_DTYPES: list[tuple[str, str]] = [
    ("id", "string"), ("score", "float64"), ("grade", "category"), ("vetoed", "bool"),
    ("policy", "category"), ("n_findings", "Int64"), ("n_banned", "Int64"),
    ("failed_rules", "string"), ("deduction", "float64"), ("agent_id", "category"),
    ("domain", "category"), ("channel", "category"), ("source", "category"),
    ("format", "category"), ("layout", "category"), ("role_confidence", "Float64"),
]
FINDING_DTYPES: list[tuple[str, str]] = [
    ("conversation_id", "string"), ("code", "category"), ("category", "category"),
    ("kind", "category"), ("phrase", "string"), ("text", "string"), ("start", "Int64"),
    ("end", "Int64"), ("turn", "Int64"), ("severity", "category"), ("source", "category"),
    ("score", "float64"), ("suggestion", "string"), ("basis", "category"),
    ("explanation", "string"), ("role", "category"), ("subcategory", "category"),
]
RULE_DTYPES: list[tuple[str, str]] = [
    ("conversation_id", "string"), ("rule_id", "category"), ("title", "string"),
    ("passed", "boolean"), ("outcome", "category"), ("deduction", "float64"), ("veto", "bool"),
    ("basis", "category"), ("message", "string"), ("n_evidence", "Int64"),
]

TURNS = pd.DataFrame({
    "conversation_id": ["c1", "c1", "c1", "c1", "c2", "c2", "c2", "c3", "c3"],
    "role": ["agent", "customer", "agent", "agent", "agent", "customer", "agent",
             "customer", "agent"],
    "text": ["您好，请问有什么可以帮您？", "我想问社保卡补办", "请稍等，我帮您查一下",
             "感谢您的耐心等待，带身份证来就行，再见", "喂", "我要投诉你们",
             f"{SHIRK}，你问别人去", "你好", "您好，请讲"],
    "agent_id": ["A1", "A1", "A1", "A1", "A2", "A2", "A2", "A1", "A1"],
    "domain": ["social"] * 4 + ["hotline"] * 3 + ["gov"] * 2,
})


@pytest.fixture(scope="module")
def analyzer(test_lexicon: Lexicon) -> Analyzer:
    """The tests' own lexicon (it has banned phrases whatever the bundled lexicons hold)."""
    return Analyzer(lexicon=test_lexicon, model=None)


@pytest.fixture(scope="module")
def scored(analyzer: Analyzer) -> ScoredFrames:
    return score_frame(TURNS, analyzer=analyzer)


def _dtype_name(s: pd.Series) -> str:
    return "category" if isinstance(s.dtype, pd.CategoricalDtype) else str(s.dtype)


def _check_dtypes(df: pd.DataFrame, table: list[tuple[str, str]]) -> None:
    assert list(df.columns[:len(table)]) == [c for c, _ in table]
    got = [(c, _dtype_name(df[c])) for c, _ in table]
    assert got == table


# ----------------------------------------------------------------------------- dtypes


def test_column_tables_match_module_constants() -> None:
    assert [c for c, _ in SCORE_DTYPES] == SCORE_COLUMNS
    assert [c for c, _ in FINDING_DTYPES] == FINDING_COLUMNS
    assert [c for c, _ in RULE_DTYPES] == RULE_COLUMNS


@pytest.mark.parametrize("empty", [False, True], ids=["full", "empty"])
def test_dtypes(analyzer: Analyzer, empty: bool) -> None:
    convs = [] if empty else list(phrasecheck.conversations_from_frame(TURNS))
    scores = [analyzer.score(c) for c in convs]
    s = scores_frame(scores, policy=analyzer.policy)
    _check_dtypes(s, SCORE_DTYPES)
    rule_cols = [c for c in s.columns if c.startswith("rule_")]
    assert rule_cols == [f"rule_{r.id}" for r in analyzer.policy.rules]
    for c in rule_cols:
        assert list(s[c].cat.categories) == ["pass", "fail", "na"]
    assert s["grade"].cat.ordered
    assert list(s["grade"].cat.categories) == [g.name for g in reversed(analyzer.policy.grades)]
    f = findings_frame(scores)
    _check_dtypes(f, FINDING_DTYPES)
    assert f["severity"].cat.ordered
    assert list(f["severity"].cat.categories) == ["info", "minor", "major", "critical"]
    r = rule_results_frame(scores)
    _check_dtypes(r, RULE_DTYPES)
    assert list(r["outcome"].cat.categories) == ["pass", "fail", "na"]
    assert (len(s), len(f) > 0, len(r)) == ((0, False, 0) if empty else
                                             (3, True, 3 * len(analyzer.policy.rules)))


def test_scores_frame_without_policy_has_unordered_grades(analyzer: Analyzer) -> None:
    scores = [analyzer.score(c) for c in phrasecheck.conversations_from_frame(TURNS)]
    s = scores_frame(scores)
    _check_dtypes(s, SCORE_DTYPES)
    assert not s["grade"].cat.ordered
    assert list(scores_frame([]).columns) == SCORE_COLUMNS


def test_positions_and_missing_values_are_nullable(scored: ScoredFrames) -> None:
    f = scored.findings
    assert f["start"].notna().all() and f["end"].notna().all()
    assert f["suggestion"].isna().any()  # required phrases have no suggestion: <NA>, not None
    for row in f.itertuples():
        text = TURNS[TURNS.conversation_id == row.conversation_id].iloc[int(row.turn)]["text"]
        assert text[int(row.start):int(row.end)] == row.text


def test_empty_dataframe_gives_empty_frames_with_columns(analyzer: Analyzer) -> None:
    empty = TURNS.iloc[:0]
    scores, findings = score_frame(empty, analyzer=analyzer)
    assert scores.empty and findings.empty
    _check_dtypes(scores, SCORE_DTYPES)
    _check_dtypes(findings, FINDING_DTYPES)
    assert [c for c in scores if c.startswith("rule_")] == [
        f"rule_{r.id}" for r in analyzer.policy.rules]


# ------------------------------------------------------------------------ score_frame


def test_score_frame_equals_scoring_one_by_one(analyzer: Analyzer,
                                               scored: ScoredFrames) -> None:
    convs = []
    for cid, group in TURNS.groupby("conversation_id", sort=False):
        turns = tuple(Turn(index=i, role=r, text=t)
                      for i, (r, t) in enumerate(zip(group.role, group.text)))
        meta = {"agent_id": group.agent_id.iloc[0], "domain": group.domain.iloc[0],
                "source": "<DataFrame>", "format": "frame"}
        convs.append(Conversation(str(cid), turns, meta))
    one_by_one = [analyzer.score(c) for c in convs]
    pd.testing.assert_frame_equal(scored.scores,
                                  scores_frame(one_by_one, policy=analyzer.policy))
    pd.testing.assert_frame_equal(scored.findings, findings_frame(one_by_one))
    assert list(scored.scores["id"]) == ["c1", "c2", "c3"]
    assert list(scored.scores["agent_id"]) == ["A1", "A2", "A1"]


def test_score_frame_finds_what_it_should(scored: ScoredFrames) -> None:
    s = scored.scores.set_index("id")
    assert s.loc["c1", "failed_rules"] == ""
    assert s.loc["c1", "score"] == 100.0
    assert "banned_phrases" in s.loc["c2", "failed_rules"]
    assert s.loc["c2", "rule_greeting"] == "fail"
    assert s.loc["c2", "n_banned"] >= 1
    banned = scored.findings[scored.findings.kind == "banned"]
    assert list(banned["text"]) == ["不归我管"]
    assert set(banned["conversation_id"]) == {"c2"}


def test_score_frame_policy_and_column_names(analyzer: Analyzer) -> None:
    renamed = TURNS.rename(columns={"conversation_id": "call", "role": "who", "text": "utt"})
    scores, _ = score_frame(renamed, id="call", role="who", text="utt", policy="hotline")
    assert set(scores["policy"]) == {"hotline"}
    assert list(scores["id"]) == ["c1", "c2", "c3"]
    with pytest.raises(ValueError, match="not both"):
        score_frame(TURNS, policy="bank", analyzer=analyzer)
    with pytest.raises(KeyError, match="no column 'nope'"):
        score_frame(TURNS, text="nope", analyzer=analyzer)


def test_score_frame_reports_skipped_rows(analyzer: Analyzer) -> None:
    df = TURNS.copy()
    df.loc[2, "text"] = None
    with pytest.warns(UserWarning, match=r"skipped 1 row"):
        scores, _ = score_frame(df, analyzer=analyzer)
    assert len(scores) == 3
    seen: list[Any] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        score_frame(df, analyzer=analyzer, on_error=seen.append)
    assert len(seen) == 1


# --------------------------------------------------------------------------- accessor


def test_accessor_score_equals_score_frame(analyzer: Analyzer,
                                           scored: ScoredFrames) -> None:
    register_accessor()
    register_accessor()  # idempotent, no warning about overriding
    got = TURNS.phrasecheck.score(analyzer=analyzer)
    assert isinstance(got, ScoredFrames)
    pd.testing.assert_frame_equal(got.scores, scored.scores)
    pd.testing.assert_frame_equal(got.findings, scored.findings)


def test_accessor_check(analyzer: Analyzer) -> None:
    register_accessor()
    msgs = pd.DataFrame({"text": ["您好，请稍等", None, f"{SHIRK}"]}, index=["m1", "m2", "m3"])
    out = msgs.phrasecheck.check("text", analyzer=analyzer)
    assert list(out.columns) == ["row", *FINDING_COLUMNS[1:]]
    assert [(c, _dtype_name(out[c])) for c in FINDING_COLUMNS[1:]] == FINDING_DTYPES[1:]
    assert set(out["row"]) == {"m1", "m3"}
    assert list(out[out.row == "m1"]["category"]) == ["greeting", "wait"]
    assert list(out[out.row == "m3"]["kind"]) == ["banned"]
    with pytest.raises(KeyError, match="no column 'body'"):
        msgs.phrasecheck.check("body", analyzer=analyzer)


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_importing_frames_imports_no_pandas_and_registers_only_when_loaded() -> None:
    assert _run("import sys, phrasecheck.frames; print('pandas' in sys.modules)") == "False"
    # pandas already imported: accessing phrasecheck.score_frame registers df.phrasecheck
    assert _run("import pandas as pd, phrasecheck; phrasecheck.score_frame; "
                "print(hasattr(pd.DataFrame(), 'phrasecheck'))") == "True"
    # otherwise the first use of any frames function registers it
    assert _run("import phrasecheck.frames as f; import pandas as pd; "
                "a = hasattr(pd.DataFrame(), 'phrasecheck'); f.scores_frame([]); "
                "print(a, hasattr(pd.DataFrame(), 'phrasecheck'))") == "False True"
