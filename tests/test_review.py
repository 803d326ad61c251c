"""The QA review loop: verdict files, merging verdicts into a scored run (scores recomputed,
audit kept, idempotent, unmatched verdicts listed), review statistics, reviewed replies as
training data."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from phrasecheck.cli import app
from phrasecheck.policy import load_policy
from phrasecheck.review import Verdict, read_verdicts, write_verdicts
from phrasecheck.review.apply import apply_verdicts, current
from phrasecheck.review.stats import review_stats, suggest_allow
from phrasecheck.review.training import merge_training, training_rows
from phrasecheck.tokenize import JiebaTokenizer
from phrasecheck.types import (
    ConversationScore,
    Evidence,
    Finding,
    RuleResult,
    Turn,
)

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "corpora" / "demo"
runner = CliRunner()


def run(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


# ------------------------------------------------------------------ one conversation

POLICY = load_policy("default")


def _score() -> tuple[ConversationScore, tuple[Turn, ...]]:
    """Two banned phrases (one major, one minor), a rude reply and a greeting."""
    turns = (Turn(0, "agent", "您好，请讲"), Turn(1, "customer", "我的卡被冻结了"),
             Turn(2, "agent", "不知道，不归我管，你烦不烦"))
    greet = Finding("GRT-001", "greeting", "required", "您好", "您好", 0, 2, turn=0)
    b1 = Finding("STW-001", "stonewall", "banned", "不知道", "不知道", 0, 3, turn=2,
                 severity="major")
    b2 = Finding("DEF-001", "deflect", "banned", "不归我管", "不归我管", 4, 8, turn=2,
                 severity="minor")
    tone = Finding("TONE-RUDE", "rude", "banned", "", turns[2].text, 0, 13, turn=2,
                   source="classifier", score=0.9, severity="major")
    forbid = POLICY.rule("banned_phrases")
    weights = forbid.spec.get("severity_weights") or {}
    occ = [forbid.deduction * float(weights.get(f.severity, 1.0)) for f in (b1, b2)]
    results = (
        RuleResult("greeting", True, 0.0, (Evidence("greeting phrase GRT-001", 0, 0, 2, "您好",
                                                    code="GRT-001"),)),
        RuleResult("banned_phrases", False, min(sum(occ), forbid.cap or 1e9), (
            Evidence("stonewall (major) STW-001", 2, 0, 3, "不知道", code="STW-001"),
            Evidence("deflect (minor) DEF-001", 2, 4, 8, "不归我管", code="DEF-001")),
            message="2 banned phrase(s): 不知道、不归我管"),
        RuleResult("rude_reply", False, POLICY.rule("rude_reply").deduction, (
            Evidence("reply-tone classifier: P(rude) = 0.90", 2, 0, 13, turns[2].text,
                     code="TONE-RUDE"),), message="1 rude repl(ies)"),
    )
    total = sum(r.deduction for r in results)
    value = max(POLICY.floor, POLICY.start - total)
    return ConversationScore("c1", value, POLICY.grade_for(value), False, results,
                             (greet, b1, b2, tone)), turns


def _v(target: str, verdict: str = "false_positive", **kw: Any) -> Verdict:
    return Verdict("c1", target, verdict, **kw)


def test_dismissed_banned_phrase_stops_deducting() -> None:
    sc, turns = _score()
    forbid = POLICY.rule("banned_phrases")
    weights = forbid.spec.get("severity_weights") or {}
    after = apply_verdicts(sc, [_v("finding", turn=2, start=0, end=3, code="STW-001")], POLICY,
                           turns)
    r = after.rule("banned_phrases")
    assert r.passed is False and len(r.evidence) == 1
    assert r.deduction == forbid.deduction * float(weights.get("minor", 1.0))
    assert after.score == sc.score + sc.rule("banned_phrases").deduction - r.deduction
    assert r.message == "1 banned phrase(s): 不归我管"
    # both dismissed: the rule passes
    both = apply_verdicts(sc, [_v("finding", turn=2, start=0, end=3, code="STW-001"),
                               _v("finding", turn=2, start=4, end=8, code="DEF-001")],
                          POLICY, turns)
    assert both.rule("banned_phrases").passed is True
    assert both.rule("banned_phrases").deduction == 0
    assert both.grade == POLICY.grade_for(both.score)


def test_dismissed_tone_verdict_and_failed_rule() -> None:
    sc, turns = _score()
    tone = apply_verdicts(sc, [_v("finding", turn=2, start=0, end=13, code="TONE-RUDE")],
                          POLICY, turns)
    assert tone.rule("rude_reply").passed is True
    assert tone.score == sc.score + sc.rule("rude_reply").deduction
    rule = apply_verdicts(sc, [_v("rule", rule="banned_phrases")], POLICY, turns)
    assert rule.rule("banned_phrases").deduction == 0 and rule.rule("banned_phrases").passed


def test_confirmed_and_pending_change_nothing() -> None:
    sc, turns = _score()
    same = apply_verdicts(sc, [_v("rule", "confirmed", rule="banned_phrases"),
                               _v("finding", "pending", turn=2, start=0, end=3,
                                  code="STW-001")], POLICY, turns)
    assert same is sc


def test_dismissed_greeting_fails_the_require_rule() -> None:
    sc, turns = _score()
    after = apply_verdicts(sc, [_v("finding", turn=0, start=0, end=2, code="GRT-001")],
                           POLICY, turns)
    greeting = after.rule("greeting")
    assert greeting.passed is False
    assert greeting.deduction == POLICY.rule("greeting").deduction
    assert after.score == max(POLICY.floor, sc.score - greeting.deduction)


def test_latest_verdict_is_in_force() -> None:
    early = _v("rule", "false_positive", rule="greeting", time="2026-01-01T08:00:00Z")
    late = _v("rule", "confirmed", rule="greeting", time="2026-01-01T09:00:00+00:00")
    assert current([late, early])[late.key] is late
    assert current([early, late])[late.key] is late


# ------------------------------------------------------------------------ verdict files


def test_verdict_files_round_trip(tmp_path: Path) -> None:
    vs = [_v("finding", turn=2, start=0, end=3, code="STW-001", rule="banned_phrases",
             reviewer="QA-7", comment="=IMPORTXML(...) 是方言", time="2026-12-01T09:00:00Z"),
          _v("rule", "pending", rule="greeting", reviewer="QA-7")]
    for suffix in ("csv", "json", "jsonl"):
        path = tmp_path / f"v.{suffix}"
        write_verdicts(path, vs)
        got, problems = read_verdicts([path])
        assert problems == [] and got == vs, suffix
    # the CSV cell a spreadsheet would run is written as text and read back as written
    assert "'=IMPORTXML" in (tmp_path / "v.csv").read_text(encoding="utf-8-sig")


def test_verdict_files_with_labels_and_problems(tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text(
        "会话编号,复核对象,轮次,起,止,编码,规则,复核结论,复核人,备注\n"
        "c1,发现,2,0,3,STW-001,banned_phrases,误报,张三,方言\n"
        "c1,规则,,,,,greeting,确认,张三,\n"
        "c1,发现,2,0,,STW-001,,误报,张三,\n"  # no end
        "c1,规则,,,,,greeting,也许,张三,\n"  # unknown verdict
        "c1,规则,,,,,greeting,,张三,\n",  # not reviewed: skipped quietly
        encoding="utf-8")
    got, problems = read_verdicts([path, tmp_path / "missing.json"])
    assert [(v.target, v.verdict) for v in got] == [("finding", "false_positive"),
                                                   ("rule", "confirmed")]
    assert [(p.line, p.reason.split(" (")[0]) for p in problems] == [
        (4, "a finding's verdict needs code, start and end"),
        (5, "unknown verdict '也许'"), (None, "no such file")]


def test_html_export_format(tmp_path: Path) -> None:
    """The JSON the report's export button writes."""
    path = tmp_path / "verdicts.json"
    path.write_text(json.dumps({"format": "phrasecheck-verdicts", "version": 1, "verdicts": [
        {"conversation_id": "c1", "target": "finding", "turn": 2, "start": 0, "end": 3,
         "code": "STW-001", "rule": "banned_phrases", "text": "不知道", "context": "不知道，",
         "verdict": "false_positive", "reviewer": "", "comment": "", "time": ""}]}),
        encoding="utf-8")
    (v,), problems = read_verdicts([path])
    assert problems == [] and v.key == ("finding", "c1", 2, 0, 3, "STW-001")


# --------------------------------------------------------------------- a scored run


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    result = run("score", str(DEMO), "--out", str(out), "--quiet", "--jobs", "1")
    assert result.exit_code == 0, result.output
    return out


def _fresh_copy(scored: Path, tmp_path: Path) -> Path:
    import shutil

    out = tmp_path / "run"
    shutil.copytree(scored, out)
    return out


def _banned(out: Path) -> dict[str, str]:
    return next(r for r in rows(out / "findings.csv")
                if r["kind"] == "banned" and r["source"] == "lexicon")


def test_review_apply_recomputes_and_audits(scored: Path, tmp_path: Path) -> None:
    out = _fresh_copy(scored, tmp_path)
    ban = _banned(out)
    cid = ban["conversation_id"]
    before = next(r for r in rows(out / "scores.csv") if r["id"] == cid)
    vfile = tmp_path / "v.csv"
    write_verdicts(vfile, [
        Verdict(cid, "finding", "false_positive", int(ban["turn"]), int(ban["start"]),
                int(ban["end"]), ban["code"], ban["rules"], "QA-1", "不是忌语",
                "2026-12-01T10:00:00Z"),
        Verdict("no-such-call", "rule", "confirmed", rule="greeting", reviewer="QA-1"),
        Verdict(cid, "finding", "false_positive", 99, 0, 2, "XXX-001", reviewer="QA-1"),
    ])
    result = run("review", "apply", str(vfile), "--scores", str(out))
    assert result.exit_code == 0, result.output
    after = next(r for r in rows(out / "scores.csv") if r["id"] == cid)
    assert float(after["score"]) > float(before["score"])
    audit = rows(out / "review.csv")
    assert [(a["conversation_id"], a["matched"]) for a in audit] == [
        (cid, "True"), ("no-such-call", "False"), (cid, "False")]
    assert audit[0]["reviewer"] == "QA-1" and audit[0]["time"] == "2026-12-01T10:00:00Z"
    assert (audit[0]["score_before"], audit[0]["score_after"]) == (before["score"],
                                                                  after["score"])
    unmatched = rows(out / "review_unmatched.csv")
    assert {u["conversation_id"] for u in unmatched} == {"no-such-call", cid}
    assert "未匹配" in result.output
    # the reports show it: the Excel verdict column is filled in, the page seeds the mark
    wb = openpyxl.load_workbook(out / "report.xlsx")
    ws = wb["违规"]
    head = [c.value for c in ws[1]]
    filled = [r for r in ws.iter_rows(min_row=2, values_only=True)
              if r[head.index("复核结论")] == "误报"]
    assert len(filled) == 1 and filled[0][head.index("复核人")] == "QA-1"
    assert "复核前分数" in [c.value for c in wb["评分"][1]]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert '"v": "false_positive"' in html and "不是忌语" in html

    # merging the same file again changes nothing
    snapshot = {n: (out / n).read_bytes() for n in ("scores.csv", "findings.csv",
                                                   "review.csv", "review_unmatched.csv")}
    again = run("review", "apply", str(vfile), "--scores", str(out))
    assert again.exit_code == 0 and "新合并 0 条" in again.output
    assert {n: (out / n).read_bytes() for n in snapshot} == snapshot

    # a later verdict on the same finding replaces it; the audit keeps both
    later = tmp_path / "later.json"
    write_verdicts(later, [Verdict(cid, "finding", "confirmed", int(ban["turn"]),
                                   int(ban["start"]), int(ban["end"]), ban["code"],
                                   reviewer="QA-2", time="2026-12-02T10:00:00Z")])
    assert run("review", "apply", str(later), "--scores", str(out)).exit_code == 0
    back = next(r for r in rows(out / "scores.csv") if r["id"] == cid)
    assert back["score"] == before["score"]
    audit = rows(out / "review.csv")
    assert [a["current"] for a in audit if a["conversation_id"] == cid
            and a["code"] == ban["code"]] == ["False", "True"]


def test_review_apply_reads_the_filled_in_workbook(scored: Path, tmp_path: Path) -> None:
    out = _fresh_copy(scored, tmp_path)
    wb = openpyxl.load_workbook(out / "report.xlsx")
    ws = wb["违规"]
    head = [c.value for c in ws[1]]
    row = next(r for r in ws.iter_rows(min_row=2)
               if r[head.index("复核对象")].value == "规则")
    row[head.index("复核结论")].value = "误报"
    row[head.index("备注")].value = "录音里有问候，转写漏了"
    cid, rule = row[0].value, row[head.index("规则")].value
    filled = tmp_path / "reviewed.xlsx"
    wb.save(filled)
    before = next(r for r in rows(out / "scores.csv") if r["id"] == cid)
    result = run("review", "apply", str(filled), "--scores", str(out))
    assert result.exit_code == 0, result.output
    after = next(r for r in rows(out / "scores.csv") if r["id"] == cid)
    assert rule not in after["failed_rules"].split(",")
    assert float(after["score"]) >= float(before["score"])


def test_review_apply_needs_a_run(tmp_path: Path) -> None:
    (tmp_path / "v.csv").write_text("conversation_id,verdict\n", encoding="utf-8")
    result = run("review", "apply", str(tmp_path / "v.csv"), "--scores", str(tmp_path))
    assert result.exit_code == 2


# ----------------------------------------------------------------------------- stats


def test_review_stats(tmp_path: Path) -> None:
    vs = [Verdict("a", "finding", "false_positive", 0, 2, 3, "RUDE-010", "banned_phrases",
                  text="滚", context="您把页面滚动一下就看到了"),
          Verdict("b", "finding", "false_positive", 1, 0, 1, "RUDE-010", "banned_phrases",
                  text="滚", context="请您滚动鼠标"),
          Verdict("c", "finding", "confirmed", 0, 0, 1, "RUDE-010", "banned_phrases",
                  text="滚", context="滚！"),
          Verdict("d", "finding", "confirmed", 0, 0, 9, "TONE-RUDE", "rude_reply"),
          Verdict("e", "finding", "false_positive", 0, 0, 9, "TONE-EVASIVE",
                  "evasive_reply"),
          Verdict("f", "rule", "pending", rule="greeting"),
          Verdict("g", "rule", "false_positive", rule="greeting")]
    stats = review_stats(vs, {"RUDE-010": "滚"})
    by = {(r["group"], r["key"]): r for r in stats.rows()}
    assert by[("entry", "RUDE-010")]["precision"] == round(1 / 3, 4)
    assert by[("rule", "banned_phrases")]["false_positive"] == 2
    assert by[("tone", "rude")]["precision"] == 1.0
    assert by[("tone", "evasive")]["precision"] == 0.0
    assert by[("rule", "greeting")]["pending"] == 1 and by[("rule", "greeting")][
        "precision"] == 0.0
    assert [r.key for r in stats.most_dismissed][:1] == ["RUDE-010"]
    assert stats.allow[0]["allow"] == "滚动" and stats.allow[0]["dismissed"] == 2

    vfile = tmp_path / "v.jsonl"
    write_verdicts(vfile, vs)
    result = run("review", "stats", str(vfile), "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "滚动" in result.output
    assert {r["key"] for r in rows(tmp_path / "review_stats.csv")} >= {"RUDE-010", "rude"}
    assert rows(tmp_path / "review_allow.csv")[0]["allow"] == "滚动"


@pytest.mark.parametrize(("text", "context", "start", "expected"), [
    ("滚", "您把页面滚动一下就看到了", 4, "滚动"),
    ("不知道", "我也不知道您是否方便", 2, "不知道您"),
    ("靠", "这个很可靠的", 3, "可靠"),
    ("滚", "滚！", 0, None),  # nothing longer to allow
    ("滚", "138****5678滚动", 11, None),  # masked context
    ("烦", "不在上下文里", 0, None),
])
def test_allow_suggestions(text: str, context: str, start: int, expected: str | None) -> None:
    assert suggest_allow(text, context, JiebaTokenizer().tokenize, start) == expected


# -------------------------------------------------------------------------- training


def test_training_rows_from_verdicts(scored: Path) -> None:
    tone = next(r for r in rows(scored / "findings.csv") if r["source"] == "classifier")
    v = Verdict(tone["conversation_id"], "finding", "false_positive", int(tone["turn"]),
                int(tone["start"]), int(tone["end"]), tone["code"], text="(shown text)")
    confirmed = dataclasses.replace(v, conversation_id="x", verdict="confirmed",
                                    text="你烦不烦啊，自己看去")
    pending = dataclasses.replace(v, conversation_id="y", verdict="pending", text="好的")
    got = training_rows([v, confirmed, pending], scored)
    labels = {r["label"] for r in got}
    assert labels == {"ok", tone["code"][5:].lower()}
    dismissed = next(r for r in got if r["label"] == "ok")
    assert dismissed["text"] != "(shown text)" and len(dismissed["text"]) == int(tone["end"])
    base = pd.DataFrame({"text": ["你烦不烦啊，自己看去", "您好"], "label": ["ok", "ok"]})
    merged, added, replaced = merge_training(base, got)
    assert (added, replaced) == (2, 1) and len(merged) == 3


def test_train_with_verdicts(tmp_path: Path) -> None:
    from phrasecheck.classify import load_replies

    corpus = load_replies(ROOT / "corpora" / "replies")
    small = pd.concat([corpus[corpus["label"] == lab].head(25) for lab in ("ok", "rude",
                                                                          "evasive")])
    data = tmp_path / "train.csv"
    small[["text", "label"]].to_csv(data, index=False)
    vfile = tmp_path / "v.json"
    write_verdicts(vfile, [Verdict("c9", "finding", "false_positive", 3, 0, 8, "TONE-RUDE",
                                   text="您稍等，我看一下")])
    result = run("train", str(data), "-o", str(tmp_path / "m.json"), "--verdicts", str(vfile))
    assert result.exit_code == 0, result.output
    assert "1 reviewed repl(ies) added" in result.output
    meta = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    assert meta["training"]["n_rows"] == len(small) + 1
