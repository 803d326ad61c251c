"""The batch path under hostile input: nothing in one file stops, floods or subverts a run.

Each test states one promise of issue 14 and runs the real command line (``--model none``
keeps them quick; the classifier is not what they are about).
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from phrasecheck.cli import app

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "corpora" / "demo"
runner = CliRunner()


def score(*args: str, input: str | None = None) -> Any:
    return runner.invoke(app, ["score", *args, "--model", "none", "--quiet", "--jobs", "1"],
                         input=input, catch_exceptions=False)


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def message(cid: str, role: str, text: str, **extra: Any) -> str:
    return json.dumps({"conversation_id": cid, "role": role, "text": text, **extra},
                      ensure_ascii=True)


# ------------------------------------------------------------------ 1. bad characters


def test_lone_surrogates_in_text_id_and_metadata_do_not_stop_the_batch(tmp_path: Path
                                                                        ) -> None:
    src = tmp_path / "in.jsonl"
    # json.dumps(ensure_ascii=True) writes the lone surrogate as the escape \ud83d, as a
    # chat export that cut an emoji in half does
    src.write_text("\n".join([
        message("c1", "agent", "您好，请稍等\ud83d"),
        message("c2\udc00", "agent", "您好", channel="wx\ud83d"),
        message("c3", "agent", "請稍等\ud83d"),
    ]) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    result = score(str(src), "--out", str(out), "--format", "csv,jsonl,xlsx,html")
    assert result.exit_code == 0, result.output
    scored = rows(out / "scores.csv")
    assert [r["id"] for r in scored] == ["c1", "c2\ufffd", "c3"]
    texts = [f["text"] for f in jsonl(out / "findings.jsonl")]
    assert "請稍等" in texts  # traditional -> simplified still matches next to the surrogate
    for name in ("scores.csv", "findings.csv", "scores.jsonl", "findings.jsonl",
                 "report.html"):
        (out / name).read_bytes().decode("utf-8")  # valid UTF-8 throughout


def test_check_text_with_a_lone_surrogate_after_traditional_text(analyzer: Any) -> None:
    text = "請稍等\ud83d"
    found = analyzer.check_text(text)
    assert [(f.phrase, f.text, f.start, f.end) for f in found] == [("请稍等", "請稍等", 0, 3)]
    long = "您好，" + "請稍等\ud83d" * 300  # the long (numpy) normalisation path
    assert all(long[f.start:f.end] == f.text for f in analyzer.check_text(long))


@pytest.mark.skipif(sys.platform == "win32" or sys.getfilesystemencoding() != "utf-8",
                    reason="file names as bytes need a POSIX UTF-8 file system")
def test_file_names_that_are_not_utf8(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    gbk_name = os.fsdecode("测试".encode("gbk") + b".txt")  # as unzip leaves a GBK archive
    (src / gbk_name).write_text("坐席：您好，请问有什么可以帮您？\n客户：谢谢\n坐席：再见\n",
                                encoding="utf-8")
    (src / os.fsdecode(b"bad\xff.jsonl")).write_text("{not json\n", encoding="utf-8")
    out = tmp_path / "out"
    for resume in ((), ("--resume",)):
        result = score(str(src), "--out", str(out), "--format", "csv,jsonl,html", *resume)
        assert result.exit_code == 0, result.output
    (scored,) = rows(out / "scores.csv")
    assert scored["id"] == "\\xb2\\xe2\\xca\\xd4"
    assert scored["source"].endswith("\\xb2\\xe2\\xca\\xd4.txt")
    errors = rows(out / "errors.csv")
    assert {Path(e["path"]).name for e in errors} == {"bad\\xff.jsonl"}


# ------------------------------------------------------------------ 2. CSV formula injection

HOSTILE_CELLS = ["=HYPERLINK(\"http://x.invalid\",\"点我\")", "+1+2", "-2+3", "@SUM(A1)",
                 "\t=1+1", "\r=1+1", "＝1+1", "  =1+1", "\u3000@A1", "－5"]


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_csv_cells_never_start_a_formula(tmp_path: Path, jobs: str) -> None:
    from phrasecheck.reports.csvsafe import FORMULA_TRIGGERS

    src = tmp_path / "in.jsonl"
    lines = []
    for i, cell in enumerate(HOSTILE_CELLS):
        cid = f"{cell}{i}"
        lines.append(message(cid, "agent", f"{cell}您好，这个不归我管", agent_id=cell,
                             domain=cell))
        lines.append(message(cid, "customer", cell + "我要投诉"))
    lines.append(json.dumps({"conversation_id": "=bad", "role": "agent"}))  # no text -> errors
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    result = runner.invoke(app, ["score", str(src), "--out", str(out), "--model", "none",
                                 "--quiet", "--jobs", jobs, "--format", "csv,jsonl"],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for name in ("scores.csv", "findings.csv", "errors.csv"):
        with open(out / name, encoding="utf-8-sig", newline="") as fh:
            cells = [c for row in csv.reader(fh) for c in row]
        assert cells
        for c in cells:
            head = c.lstrip(" \u00a0\u3000\n")
            assert not head or head[0] not in FORMULA_TRIGGERS, (name, c)
    # the CSV shows the text behind a quote; JSONL keeps it exactly
    ids = [r["id"] for r in rows(out / "scores.csv")]
    assert ids[0] == "'" + HOSTILE_CELLS[0] + "0"
    exact = [r["id"] for r in jsonl(out / "scores.jsonl")]
    assert exact == [f"{c}{i}".strip() for i, c in enumerate(HOSTILE_CELLS)]  # ids trimmed
    assert [r["agent_id"] for r in jsonl(out / "scores.jsonl")] == HOSTILE_CELLS
    assert {e["conversation_id"] for e in rows(out / "errors.csv")} == {"'=bad"}


@pytest.mark.parametrize(("cell", "expected"), [
    ("=1", "'=1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\t=1", "'\t=1"),
    ("\r1", "'\r1"), ("＝1", "'＝1"), ("＋1", "'＋1"), ("－1", "'－1"), ("＠x", "'＠x"),
    (" =1", "' =1"), ("\u3000-1", "'\u3000-1"), ("您好=1", "您好=1"), ("", ""),
    ("  您好", "  您好"), (-1.5, -1.5), (None, None), ("'=1", "'=1"),
])
def test_neutralise_table(cell: Any, expected: Any) -> None:
    from phrasecheck.reports.csvsafe import neutralise

    assert neutralise(cell) == expected


# ------------------------------------------------------------------ 3. unique ids, resume


def _colliding_inputs(root: Path) -> Path:
    src = root / "in"
    for day in ("day1", "day2"):
        (src / day).mkdir(parents=True)
        for n in range(3):
            (src / day / f"call_{n:04d}.txt").write_text(
                f"坐席：您好，这里是{day}的第{n}通电话，请问有什么可以帮您？\n客户：谢谢\n坐席：再见\n",
                encoding="utf-8")
        (src / day / "chats.jsonl").write_text(
            message("x", "agent", f"您好，{day}") + "\n" + message("y", "agent", "您好") + "\n",
            encoding="utf-8")
    return src


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ids_are_unique_in_a_run_and_resume_keys_on_the_input(tmp_path: Path, jobs: str
                                                               ) -> None:
    src = _colliding_inputs(tmp_path)
    out = tmp_path / "out"

    def run(*extra: str) -> Any:
        return runner.invoke(app, ["score", str(src), "--out", str(out), "--model", "none",
                                   "--quiet", "--jobs", jobs, "--format", "csv,jsonl",
                                   *extra], catch_exceptions=False)

    assert run().exit_code == 0
    ids = [r["id"] for r in rows(out / "scores.csv")]
    assert len(ids) == len(set(ids)) == 10  # 6 calls + 4 chats, none lost or merged
    assert {f"day{d}/call_{n:04d}" for d in (1, 2) for n in range(3)} <= set(ids)
    second_day = str(src / "day2" / "chats.jsonl")
    assert {"x", "y", f"x@{second_day}", f"y@{second_day}"} <= set(ids)
    notes = [e for e in rows(out / "errors.csv") if "duplicate conversation id" in e["reason"]]
    assert [e["conversation_id"] for e in notes] == [f"x@{second_day}", f"y@{second_day}"]
    whole = {n: (out / n).read_bytes() for n in ("scores.csv", "findings.csv", "errors.csv",
                                                  "scores.jsonl", "errors.jsonl")}
    # interrupt after 7 conversations (the first day and one chat of the second), resume
    records = out / ".phrasecheck" / "records.jsonl"
    lines = records.read_bytes().splitlines(keepends=True)
    records.write_bytes(b"".join(lines[:7]) + lines[7][:40])
    result = run("--resume")
    assert result.exit_code == 0
    for name, data in whole.items():
        assert (out / name).read_bytes() == data, name
    # resuming a finished run scores nothing again and loses nothing
    assert run("--resume").exit_code == 0
    assert (out / "scores.csv").read_bytes() == whole["scores.csv"]


def test_read_conversations_gives_colliding_txt_stems_distinct_ids(tmp_path: Path) -> None:
    from phrasecheck import read_conversations
    from phrasecheck.readers.inputs import txt_ids

    src = _colliding_inputs(tmp_path)
    ids = [c.id for c in read_conversations(src) if c.metadata["format"] == "txt"]
    assert ids == [f"day{d}/call_{n:04d}" for d in (1, 2) for n in range(3)]
    assert txt_ids(["a/b/c.txt", "a/d/c.txt", "e.txt"]) == {"a/b/c.txt": "b/c",
                                                             "a/d/c.txt": "d/c"}
    assert txt_ids(["x/1/c.txt", "y/1/c.txt"]) == {"x/1/c.txt": "x/1/c", "y/1/c.txt": "y/1/c"}


# ------------------------------------------------------------------ 4. no silent losses


def _read(path: Path) -> tuple[list[Any], list[Any]]:
    from phrasecheck import read_conversations

    reader = read_conversations(path)
    return list(reader), reader.errors


@pytest.mark.parametrize(("n", "bad_at"), [(50, 11), (5000, 2360), (50, 50)])
def test_csv_with_an_unbalanced_quote_loses_only_its_row(tmp_path: Path, n: int, bad_at: int
                                                          ) -> None:
    lines = ["conversation_id,role,text"]
    for i in range(1, n + 1):
        text = f"您好，第{i}行，请问有什么可以帮您"
        if i == bad_at:
            text = '"' + text  # opened, never closed
        lines.append(f"c{i},agent,{text}")
    p = tmp_path / "t.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    convs, errors = _read(p)
    if bad_at == n:  # nothing after it to swallow: the csv module keeps the row
        assert [c.id for c in convs] == [f"c{i}" for i in range(1, n + 1)] and errors == []
        return
    assert [c.id for c in convs] == [f"c{i}" for i in range(1, n + 1) if i != bad_at]
    (err,) = errors
    assert err.line == bad_at + 1 and "unbalanced quote" in err.reason  # header is line 1


def test_csv_multi_line_cells_are_still_one_turn(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text('conversation_id,role,text\nc1,agent,"您好，\n请问,有什么,可以帮您"\n'
                 'c1,customer,"我想问\n社保卡"\n', encoding="utf-8")
    convs, errors = _read(p)
    assert errors == []
    assert [t.text for t in convs[0].turns] == ["您好，\n请问,有什么,可以帮您", "我想问\n社保卡"]


def test_csv_cell_over_the_field_limit_costs_one_row(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    big = "好" * 200_000  # over csv's default field limit of 131,072 characters
    p.write_text(f'conversation_id,role,text\nc1,agent,"{big}\n您好"\nc2,agent,您好\n'
                 "c3,agent,再见\n", encoding="utf-8")
    convs, errors = _read(p)
    assert [c.id for c in convs] == ["c2", "c3"]
    assert errors[0].line == 2 and "field_size_limit" in errors[0].reason
    assert {e.line for e in errors[1:]} == {3}  # the cell's second line, reported alone


def test_xlsx_with_a_stale_dimension_is_read_whole(tmp_path: Path) -> None:
    import re
    import zipfile

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["conversation_id", "role", "text"])
    for i in range(10):
        ws.append([f"c{i}", "agent", "您好"])
    good = tmp_path / "good.xlsx"
    wb.save(good)
    stale = tmp_path / "stale.xlsx"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(stale, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                data, n = re.subn(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:C2"', data)
                assert n == 1
            zout.writestr(item, data)
    convs, errors = _read(stale)
    assert [c.id for c in convs] == [f"c{i}" for i in range(10)] and errors == []


@pytest.mark.parametrize(("suffix", "content", "text"), [
    (".jsonl", '{"conversation_id": "c", "role": "agent", "text": "好。"}\n', "好。"),
    (".csv", "conversation_id,role,text\nc,agent,好。\n", "好。"),
    (".txt", "坐席：好。\n", "好。"),
    (".txt", "坐席：您好，请稍等。\n", "您好，请稍等。"),  # was read as UTF-16
])
def test_short_gbk_files_are_not_read_as_big5(tmp_path: Path, suffix: str, content: str,
                                              text: str) -> None:
    p = tmp_path / f"t{suffix}"
    p.write_bytes(content.encode("gbk"))
    (conv,), errors = _read(p)
    assert errors == [] and conv.turns[0].text == text


def test_a_nul_byte_costs_its_line_not_the_file(tmp_path: Path) -> None:
    p = tmp_path / "t.txt"
    p.write_bytes("坐席：您好\n客户：我想\x00问一下\n坐席：好的，再见\n".encode())
    (conv,), errors = _read(p)
    assert [t.text for t in conv.turns] == ["您好", "好的，再见"]
    assert [(e.line, e.reason) for e in errors] == [
        (2, "NUL byte in this line (not text); line skipped")]
    junk = tmp_path / "junk.txt"
    junk.write_bytes(bytes(range(256)) * 8)
    assert [e.reason for e in _read(junk)[1]] == ["binary file, not text"]


# ------------------------------------------------------------------ 5. bounded output


def test_findings_carry_a_window_not_the_whole_turn(tmp_path: Path) -> None:
    src = tmp_path / "long.txt"
    turn = "您好，请稍等，" * 3_000  # one 21,000-character line, 6,000 findings
    src.write_text("坐席：" + turn + "\n", encoding="utf-8")
    out = tmp_path / "out"
    result = score(str(src), "--out", str(out), "--format", "csv,jsonl,parquet,xlsx",
                   "--context", "10", "--turns")
    assert result.exit_code == 0, result.output
    findings = jsonl(out / "findings.jsonl")
    assert len(findings) == 6_000
    for f in findings:
        shift = f["context_start"]
        assert f["context"][f["start"] - shift:f["end"] - shift] == f["text"]
        assert len(f["context"]) <= len(f["text"]) + 20
    # once quadratic (every row held the turn: 6,000 x 21,000 characters, 380 MB), now
    # linear: about 400 bytes a row
    assert (out / "findings.csv").stat().st_size < 4_000_000
    (whole,) = jsonl(out / "turns.jsonl")
    assert whole["text"] == turn and whole["conversation_id"] == "long"
    assert [r["text"] for r in rows(out / "turns.csv")] == [turn]
    import pyarrow.parquet as pq

    table = pq.read_table(out / "findings.parquet")
    assert table.num_rows == 6_000 and table.schema.field("start").type == "int64"
    assert pq.read_table(out / "turns.parquet").column("text").to_pylist() == [turn]


def test_a_conversation_over_the_limit_is_reported_with_how_to_raise_it(tmp_path: Path
                                                                         ) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "long.txt").write_text("坐席：您好\n" + "客户：我想问一下社保卡的事情\n" * 500,
                                  encoding="utf-8")  # 5,502 characters in 501 turns
    (src / "line.jsonl").write_text(message("c", "agent", "好" * 20_000) + "\n",
                                    encoding="utf-8")
    (src / "ok.txt").write_text("坐席：您好\n", encoding="utf-8")
    out = tmp_path / "out"
    assert score(str(src), "--out", str(out), "--format", "csv",
                 "--max-chars", "10000").exit_code == 0
    assert [r["id"] for r in rows(out / "scores.csv")] == ["long", "ok"]
    errors = {Path(e["path"]).name: e["reason"] for e in rows(out / "errors.csv")[:1]}
    assert "line too long (more than 10,000 characters; raise the limit with --max-chars" \
        in errors["line.jsonl"]
    assert score(str(src), "--out", str(out), "--format", "csv",
                 "--max-chars", "5000").exit_code == 0
    assert [r["id"] for r in rows(out / "scores.csv")] == ["ok"]
    errors = {Path(e["path"]).name: e["reason"] for e in rows(out / "errors.csv")}
    assert errors["long.txt"].startswith("conversation of 5,502 characters too long (more "
                                         "than 5,000 characters; raise the limit with "
                                         "--max-chars")


def test_an_xlsx_that_unpacks_to_a_huge_part_is_refused_before_loading(tmp_path: Path
                                                                        ) -> None:
    import zipfile

    from openpyxl import Workbook

    from phrasecheck import read_conversations

    wb = Workbook()
    ws = wb.active
    ws.append(["conversation_id", "role", "text"])
    ws.append(["c1", "agent", "PLACEHOLDER"])
    plain = tmp_path / "plain.xlsx"
    wb.save(plain)
    p = tmp_path / "bomb.xlsx"  # openpyxl cuts cells at 32,767 characters: write the XML
    with zipfile.ZipFile(plain) as zin, zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                data = data.replace(b"PLACEHOLDER", "好".encode() * 1_000_001)
            zout.writestr(item.filename, data)
    assert p.stat().st_size < 100_000  # 3 MB of text in a small file
    reader = read_conversations(p, max_xlsx_bytes=2**20)
    assert list(reader) == []
    (err,) = reader.errors
    assert "xl/worksheets/sheet1.xml unpacks to 3 MB, more than the limit of 1 MB" in err.reason
    assert "--max-xlsx-mb" in err.reason
    reader = read_conversations(p)  # within the default part limit: the cell is too long
    assert list(reader) == []
    assert "cell too long (more than 1,000,000 characters" in reader.errors[0].reason


# ------------------------------------------------------------------ 8. faults


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith(".")
                  and p.name != ".phrasecheck")


def test_out_pointing_at_a_file_is_a_one_line_error(tmp_path: Path) -> None:
    target = tmp_path / "report"
    target.write_text("not a folder", encoding="utf-8")
    result = score(str(DEMO), "--out", str(target))
    assert result.exit_code == 4
    assert "is a file, not a folder" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("errno_name", ["ENOSPC", "EACCES", "EROFS"])
def test_a_failing_disk_is_exit_4_and_leaves_no_temporary_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, errno_name: str) -> None:
    import errno

    from phrasecheck import batch

    real = batch._Sink.write
    calls = [0]

    def failing(self: Any, data: bytes) -> None:
        calls[0] += 1
        if calls[0] > 3:  # the disk fills up part way through
            raise OSError(getattr(errno, errno_name), os.strerror(getattr(errno, errno_name)),
                          str(self.path))
        real(self, data)

    monkeypatch.setattr(batch._Sink, "write", failing)
    out = tmp_path / "out"
    result = score(str(DEMO), "--out", str(out), "--format", "csv,jsonl")
    assert result.exit_code == 4, result.output
    assert "cannot write the outputs" in result.output
    assert os.strerror(getattr(errno, errno_name)) in result.output
    assert "Traceback" not in result.output
    assert _leftovers(out) == [] and not (out / "scores.csv").exists()
    monkeypatch.setattr(batch._Sink, "write", real)
    assert score(str(DEMO), "--out", str(out), "--format", "csv", "--resume").exit_code == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE, SIGXFSZ")
def test_a_real_write_error_is_exit_4_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    """The OS refuses a write (a file-size limit: EFBIG, as a full disk gives ENOSPC)."""
    import resource
    import signal
    import subprocess

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failing write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))

    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "phrasecheck.cli", "score", str(DEMO), "--out", str(out),
         "--model", "none", "--quiet", "--jobs", "1"],
        capture_output=True, text=True, timeout=600, preexec_fn=limit)
    assert proc.returncode == 4, proc.stderr
    (line,) = proc.stderr.strip().splitlines()  # one line, no traceback
    assert line.startswith("error: cannot write the outputs") and "File too large" in line
    assert _leftovers(out) == []


def test_resume_removes_what_a_killed_run_left(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert score(str(DEMO), "--out", str(out), "--format", "csv").exit_code == 0
    # what kill -9 leaves: temporary outputs of both writers, a worker's part file
    (out / ".scores.csv.tmp-4242").write_text("half", encoding="utf-8")
    (out / ".report.xlsx.0123456789ab.tmp").write_bytes(b"PK")
    parts = out / ".phrasecheck" / "parts"
    parts.mkdir()
    (parts / "4242-1.records").write_bytes(b"{")
    (out / ".keep-me").write_text("not ours", encoding="utf-8")
    assert score(str(DEMO), "--out", str(out), "--format", "csv", "--resume").exit_code == 0
    assert _leftovers(out) == [".keep-me"]
    assert sorted(p.name for p in (out / ".phrasecheck").iterdir()) == [
        "errors.jsonl", "records.jsonl", "run.json"]  # run.json, errors.jsonl: review apply


def test_a_bad_model_path_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["score", str(DEMO), "--out", str(tmp_path), "--quiet",
                                 "--model", str(tmp_path / "nope.json")])
    assert result.exit_code == 2 and "no such model file" in result.output


def test_a_run_in_which_no_input_could_be_read_does_not_exit_0(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jsonl").write_text("{broken\n", encoding="utf-8")
    (src / "b.txt").write_bytes(bytes(range(256)) * 4)
    result = score(str(src), "--out", str(tmp_path / "out"), "--format", "csv")
    assert result.exit_code == 3, result.output
    assert "no conversation could be read" in result.output
    assert len(rows(tmp_path / "out" / "errors.csv")) >= 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_exit_when_the_parent_is_killed(tmp_path: Path) -> None:
    import signal
    import subprocess
    import time

    src = tmp_path / "in"
    src.mkdir()
    for i in range(400):  # one small file each: the workers read and score them
        (src / f"c{i:04d}.txt").write_text("坐席：您好，请问有什么可以帮您？\n客户：我想问社保\n"
                                           "坐席：好的，请稍等\n" * 20, encoding="utf-8")
    parent = subprocess.Popen(
        [sys.executable, "-m", "phrasecheck.cli", "score", str(src), "--out",
         str(tmp_path / "out"), "--jobs", "2", "--quiet", "--model", "none", "--format", "csv"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def children() -> list[int]:
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent.pid:
                found.append(int(stat.parent.name))
        return found

    try:
        deadline = time.monotonic() + 120
        while len(children()) < 2 and parent.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = children()
        if parent.poll() is not None or not workers:
            pytest.skip("the run ended before its workers could be watched")
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(Path(f"/proc/{w}").exists()
                                                  and "Z" not in _state(w) for w in workers):
            time.sleep(0.2)
        alive = [w for w in workers if Path(f"/proc/{w}").exists() and "Z" not in _state(w)]
        assert alive == [], "orphaned workers kept running"
    finally:
        if parent.poll() is None:
            parent.kill()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


# ------------------------------------------------------------------ 10. smaller ones


def test_markup_in_a_message_does_not_crash_check() -> None:
    result = runner.invoke(app, ["check", "不[/]知道 [bold]你烦不烦[/bold]", "--model", "none"])
    assert result.exit_code == 0, result.output
    assert "“不[/]知道”" in result.output


def test_classify_rejects_a_single_string() -> None:
    from phrasecheck import Analyzer

    a = Analyzer()
    if a.model is None:
        pytest.skip("no bundled model")
    with pytest.raises(TypeError, match=r"classify\(\[text\]\)"):
        a.classify("你烦不烦")
    assert len(a.classify(["你烦不烦"])) == 1
