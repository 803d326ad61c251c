"""The `phrasecheck` command line and the batch engine behind `phrasecheck score`."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from phrasecheck.cli import app

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "corpora" / "demo"
runner = CliRunner()


def run(*args: str, input: str | None = None) -> Any:
    return runner.invoke(app, list(args), input=input, catch_exceptions=False)


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def demo_ids() -> set[str]:
    from phrasecheck import read_conversations

    return {c.id for c in read_conversations(DEMO)}


@pytest.fixture(scope="module")
def broken_batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any]:
    """The demo corpus plus deliberately broken files, scored once with --jobs 2."""
    src = tmp_path_factory.mktemp("in")
    shutil.copytree(DEMO, src / "demo")
    bad = src / "bad"
    bad.mkdir()
    (bad / "junk.txt").write_bytes(bytes(range(256)) * 64)                    # binary junk
    (bad / "cut.json").write_text('[{"id": "cut_1", "turns": [{"role": "agent", "te',
                                  encoding="utf-8")                              # truncated JSON
    (bad / "latin.txt").write_bytes("坐席：您好".encode()[:-1] + b"\xff\xfe\xfa" * 50)
    (bad / "empty.jsonl").write_text("", encoding="utf-8")                      # empty file
    (bad / "huge.jsonl").write_text("x" * 50_000_000, encoding="utf-8")         # 50 MB line
    (bad / "mixed.jsonl").write_text(
        '{"conversation_id": "ok_1", "role": "agent", "text": "您好，请问有什么可以帮您？"}\n'
        '{"conversation_id": "ok_1", "role": "customer", "text": "我想问社保"}\n'
        '{not json\n'
        '{"conversation_id": "ok_1", "role": "agent", "text": "好的，再见"}\n',
        encoding="utf-8")
    out = tmp_path_factory.mktemp("out")
    result = run("score", str(src), "--out", str(out), "--jobs", "2", "--format",
                 "csv,jsonl,xlsx,html", "--quiet")
    return src, out, result


def test_broken_files_never_stop_the_batch(broken_batch: tuple[Path, Path, Any]) -> None:
    _, out, result = broken_batch
    assert result.exit_code == 0, result.output
    scored = {r["id"] for r in rows(out / "scores.csv")}
    errors = rows(out / "errors.csv")
    assert demo_ids() | {"ok_1"} <= scored
    bad_files = {Path(e["path"]).name for e in errors}
    assert {"junk.txt", "cut.json", "empty.jsonl", "huge.jsonl", "mixed.jsonl"} <= bad_files
    for e in errors:
        assert e["reason"]
    mixed = [e for e in errors if e["path"].endswith("mixed.jsonl")]
    assert mixed[0]["line"] == "3"


def test_inputs_equal_scored_plus_errors(broken_batch: tuple[Path, Path, Any]) -> None:
    """Every input conversation is either scored or named in errors.*; every input file
    either yielded a conversation or has an error."""
    src, out, _ = broken_batch
    from phrasecheck.readers import expand_inputs

    files, _ = expand_inputs([str(src)])
    scored = rows(out / "scores.csv")
    errors = rows(out / "errors.csv")
    files_scored = {Path(r["source"]).name for r in scored}
    files_failed = {Path(e["path"]).name for e in errors}
    assert {f.name for f in files} == files_scored | files_failed
    assert len(scored) == len({r["id"] for r in scored})  # nothing scored twice
    assert len(scored) == len(demo_ids()) + 1 + ("cut_1" in {r["id"] for r in scored})


def test_outputs_are_consistent(broken_batch: tuple[Path, Path, Any]) -> None:
    _, out, _ = broken_batch
    for name in ("scores.csv", "findings.csv", "errors.csv", "scores.jsonl", "findings.jsonl",
                 "report.xlsx", "report.html"):
        assert (out / name).is_file(), name
    assert not list(out.glob(".*.tmp-*"))  # atomic writes leave no temporary files
    # workers' part files (whole input files' text, appended by the parent) are gone too
    assert sorted(p.name for p in (out / ".phrasecheck").iterdir()) == [
        "errors.jsonl", "records.jsonl", "run.json"]
    findings = rows(out / "findings.csv")
    assert findings
    for f in findings:
        shift = int(f["context_start"])
        assert f["context"][int(f["start"]) - shift:int(f["end"]) - shift] == f["text"]
        assert len(f["context"]) <= len(f["text"]) + 2 * 40
        assert f["code"] and f["category"]
    banned = [f for f in findings if f["kind"] == "banned" and f["source"] == "lexicon"]
    assert banned and all(f["suggestion"] and f["basis_text"] and f["rules"] for f in banned)
    jl = [json.loads(line) for line in (out / "scores.jsonl").open(encoding="utf-8")]
    assert {r["id"] for r in jl} == {r["id"] for r in rows(out / "scores.csv")}


def test_reports_are_redacted(broken_batch: tuple[Path, Path, Any]) -> None:
    _, out, _ = broken_batch
    from phrasecheck.reports.redact import find_pii

    html = (out / "report.html").read_text(encoding="utf-8")
    findings = (out / "findings.csv").read_text(encoding="utf-8-sig")
    for text in (html, findings):
        assert not [s for s in find_pii(text) if s[2] in ("mobile", "id_card", "bank_card")]


def test_jobs_1_and_2_give_the_same_scores(broken_batch: tuple[Path, Path, Any],
                                           tmp_path: Path) -> None:
    _, out2, _ = broken_batch
    result = run("score", str(DEMO), "--out", str(tmp_path), "--jobs", "1", "--format", "csv",
                 "--quiet")
    assert result.exit_code == 0
    def key(r: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in r.items() if k != "source"}  # the copies live elsewhere

    one = {r["id"]: key(r) for r in rows(tmp_path / "scores.csv")}
    two = {r["id"]: key(r) for r in rows(out2 / "scores.csv") if r["id"] in one}
    assert one == two


def test_jobs_1_and_2_write_the_same_bytes(broken_batch: tuple[Path, Path, Any],
                                           tmp_path: Path) -> None:
    """With --jobs 2 workers read the files they score (the 50 MB one is read by the parent
    and sent in chunks); the tables, errors included, come out in the same order."""
    src, out2, _ = broken_batch
    assert run("score", str(src), "--out", str(tmp_path), "--jobs", "1", "--format",
               "csv,jsonl", "--quiet").exit_code == 0
    for name in ("scores.csv", "findings.csv", "errors.csv", "scores.jsonl",
                 "findings.jsonl", "errors.jsonl"):
        assert (tmp_path / name).read_bytes() == (out2 / name).read_bytes(), name


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_resume_skips_what_is_done(tmp_path: Path, jobs: str) -> None:
    first = run("score", str(DEMO), "--out", str(tmp_path), "--format", "csv", "--quiet",
                "--jobs", jobs)
    assert first.exit_code == 0
    records = tmp_path / ".phrasecheck" / "records.jsonl"
    lines = records.read_text(encoding="utf-8").splitlines()
    # simulate an interrupted run: keep 10 records and half of the 11th
    records.write_text("\n".join(lines[:10]) + "\n" + lines[10][: len(lines[10]) // 2],
                       encoding="utf-8")
    second = run("score", str(DEMO), "--out", str(tmp_path), "--format", "csv", "--resume",
                 "--jobs", jobs)
    assert second.exit_code == 0
    assert "10 沿用上次评分" in second.output  # the summary speaks Chinese by default
    scored = rows(tmp_path / "scores.csv")
    assert {r["id"] for r in scored} == demo_ids() and len(scored) == len(demo_ids())


@pytest.mark.parametrize("jobs", [1, 2])
def test_summary_counts_every_conversation_once_after_resume(tmp_path: Path,
                                                             jobs: int) -> None:
    from collections import Counter

    from phrasecheck import Analyzer, read_conversations
    from phrasecheck.batch import run_batch

    convs = list(read_conversations(DEMO))
    analyzer = Analyzer()
    expected = [analyzer.score(c) for c in convs]
    run_batch(convs[:20], tmp_path, formats=("jsonl",), jobs=jobs)
    res = run_batch(convs, tmp_path, formats=("jsonl",), jobs=jobs, resume=True,
                    fail_under=80)
    assert (res.resumed, res.scored, res.total) == (20, len(convs) - 20, len(convs))
    assert res.scores == [e.score for e in expected]
    assert res.grades == Counter(e.grade for e in expected)
    assert res.vetoed == sum(e.vetoed for e in expected)
    assert res.violations == Counter(r.rule_id for e in expected for r in e.rule_results
                                     if r.passed is False)
    assert res.below == [e.id for e in expected if e.score < 80]


def test_fail_under_exit_code(tmp_path: Path) -> None:
    assert run("score", str(DEMO), "--out", str(tmp_path), "--format", "csv", "--quiet",
               "--jobs", "1", "--fail-under", "101").exit_code == 1
    assert run("score", str(DEMO), "--out", str(tmp_path), "--format", "csv", "--quiet",
               "--jobs", "1", "--fail-under", "0").exit_code == 0


@pytest.mark.parametrize(("args", "message"), [
    (["score", "nonexistent_dir_xyz"], "no such input"),
    (["score", str(DEMO), "--policy", "bnak"], "unknown policy 'bnak' (available: bank"),
    (["score", str(DEMO), "--format", "pdf"], "unknown format pdf"),
    (["explain", "no_such_rule"], "unknown rule 'no_such_rule'"),
    (["score", str(DEMO), "--engine", "spark"], "unknown engine"),
])
def test_usage_errors_exit_2_and_say_what_exists(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output.replace("\n", " ")


def test_stdin_jsonl(tmp_path: Path) -> None:
    data = "\n".join(json.dumps(m, ensure_ascii=False) for m in [
        {"conversation_id": "s1", "role": "agent", "text": "您好，很高兴为您服务"},
        {"conversation_id": "s1", "role": "customer", "text": "我要投诉"},
        {"conversation_id": "s1", "role": "agent", "text": "爱办不办"},
    ]) + "\n"
    result = run("score", "-", "--out", str(tmp_path), "--format", "csv", "--quiet",
                 "--jobs", "1", input=data)
    assert result.exit_code == 0
    (s1,) = rows(tmp_path / "scores.csv")
    assert s1["id"] == "s1" and float(s1["score"]) < 100


def test_check_prints_findings_with_suggestions() -> None:
    result = run("check", "你烦不烦啊，这个不归我管", "--model", "none")
    assert result.exit_code == 0
    assert "不归我管" in result.output and "建议改为" in result.output  # Chinese by default
    english = run("check", "你烦不烦啊，这个不归我管", "--model", "none", "--lang", "en")
    assert "say instead" in english.output and "banned" in english.output
    as_json = json.loads(run("check", "您好，请稍等", "--json", "--model", "none").output)
    assert [f["code"] for f in as_json][:1] and all(
        "您好，请稍等"[f["start"]:f["end"]] == f["text"] for f in as_json)


def test_policies_and_explain() -> None:
    out = run("policies").output
    for name in ("default", "hotline", "bank", "hospital", "court", "social_security"):
        assert name in out
    explained = run("explain", "apology_after_complaint").output
    assert "context" in explained and "basis" in explained and "不予争辩" in explained


def test_every_preset_has_the_stable_rules() -> None:
    from phrasecheck.policy import STABLE_RULE_IDS, available_policies, load_policy

    for name in available_policies():
        p = load_policy(name)
        assert set(STABLE_RULE_IDS) <= set(p.rule_ids), name
        assert all(r.basis for r in p.rules), name


def test_train_and_eval_commands(tmp_path: Path) -> None:
    import pandas as pd

    from phrasecheck.classify import load_replies

    df = load_replies(ROOT / "corpora" / "replies")
    small = pd.concat([g.head(40) for _, g in df.groupby("label")])
    data = tmp_path / "mine.csv"
    small[["text", "label"]].to_csv(data, index=False)
    model = tmp_path / "m.json"
    assert run("train", str(data), "-o", str(model)).exit_code == 0
    result = run("eval", str(data), "--model", str(model))
    assert result.exit_code == 0 and "macro" in result.output.lower()


def test_part_files_from_workers_give_the_same_bytes(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker hands a big file's text back through part files (here every file's);
    the parent appends them in order, and removes them."""
    from phrasecheck import batch

    monkeypatch.setattr(batch, "_SPILL_BYTES", 0)
    one, two = tmp_path / "one", tmp_path / "two"
    for out, jobs in ((one, "1"), (two, "2")):
        assert run("score", str(DEMO), "--out", str(out), "--jobs", jobs, "--format",
                   "csv,jsonl", "--quiet").exit_code == 0
    for name in ("scores.csv", "findings.csv", "errors.csv", "scores.jsonl",
                 "findings.jsonl"):
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    assert ((one / ".phrasecheck" / "records.jsonl").read_bytes()
            == (two / ".phrasecheck" / "records.jsonl").read_bytes())
    assert not (two / ".phrasecheck" / "parts").exists()


def test_auto_jobs_starts_no_workers_for_small_inputs(tmp_path: Path) -> None:
    from phrasecheck.batch import AUTO_JOBS_MIN_BYTES, auto_jobs

    small = sorted(DEMO.glob("*.txt"))
    assert auto_jobs(small, cpus=8) == 1
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"\n" * AUTO_JOBS_MIN_BYTES)
    assert auto_jobs([*small, big], cpus=8) == 8
    assert auto_jobs(small, cpus=8, stdin=True) == 8  # a stream has no size to go by
    assert auto_jobs([tmp_path / "missing.txt"], cpus=8) == 1
    assert auto_jobs([big], cpus=1) == 1
