"""`phrasecheck score corpora/demo` writes the same bytes as the committed reference.

A refactor must not change what users get. This test runs the command a user runs
(``phrasecheck score corpora/demo --out OUT``, default formats, in a fresh process from the
repository root) and compares a SHA-256 of every file it writes with
``tests/data/demo_outputs.json``.

Two things in the output are the time of the run, and only those are masked (the masking is
exact: only timestamps that fall inside the run are replaced):

* ``report.html`` prints when it was generated (``YYYY-MM-DD HH:MM``);
* ``report.xlsx`` is a zip archive: each member is hashed on its own (the archive's own entry
  dates change every run), and ``docProps/core.xml`` carries the workbook's ``created`` and
  ``modified`` times (``YYYY-MM-DDTHH:MM:SSZ``, UTC).

Everything else (scores, findings, errors, the report's content, the workbook's sheets and
styles, ``OUT/.phrasecheck/records.jsonl``) is compared byte for byte.

When the outputs change ON PURPOSE (a lexicon entry, the model, a rule, a report column),
regenerate the reference and say why in the commit::

    python tests/test_demo_outputs.py --update

To see what changed, write the masked outputs of two checkouts and diff them::

    python tests/test_demo_outputs.py --write DIR     # in each checkout, then diff -r
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "data" / "demo_outputs.json"
COMMAND = ("score", "corpora/demo", "--out")


def _phrasecheck() -> list[str]:
    """The installed ``phrasecheck`` script next to this interpreter, else the CLI module."""
    script = Path(sys.executable).with_name("phrasecheck")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from phrasecheck.cli import main; "
                                  "sys.argv[0] = 'phrasecheck'; sys.exit(main())"]


def run_demo(out: Path) -> tuple[float, float]:
    """Score the demo corpus into ``out``; returns the wall-clock (start, end) of the run."""
    env = dict(os.environ)
    env.pop("PYTHONHASHSEED", None)  # results must not depend on hash order
    start = time.time()
    proc = subprocess.run([*_phrasecheck(), *COMMAND, str(out), "--quiet"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    end = time.time()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return start, end


def _minutes(start: float, end: float, fmt: str, utc: bool) -> list[str]:
    """Every timestamp ``fmt`` can show for a moment in [start, end]."""
    out = []
    t = float(int(start) - 1)
    while t <= end + 1:
        moment = (datetime.datetime.fromtimestamp(t, datetime.timezone.utc) if utc
                  else datetime.datetime.fromtimestamp(t))
        stamp = moment.strftime(fmt)
        if stamp not in out:
            out.append(stamp)
        t += 1.0
    return out


def _mask(data: bytes, stamps: list[str], placeholder: str) -> bytes:
    for s in stamps:
        data = data.replace(s.encode(), placeholder.encode())
    return data


def masked_outputs(out: Path, start: float, end: float) -> dict[str, bytes]:
    """Every output file (xlsx: every member) with the run's own timestamps masked."""
    local = _minutes(start, end, "%Y-%m-%d %H:%M", utc=False)
    utc = _minutes(start, end, "%Y-%m-%dT%H:%M:%SZ", utc=True)
    files: dict[str, bytes] = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        name = path.relative_to(out).as_posix()
        data = path.read_bytes()
        if name.endswith(".xlsx"):
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                for member in zf.namelist():
                    body = zf.read(member)
                    if member == "docProps/core.xml":
                        body = _mask(body, utc, "[run time]")
                    files[f"{name}!{member}"] = body
        else:
            if name.endswith(".html"):
                data = _mask(data, local, "[run time]")
            files[name] = data
    return files


def digests(files: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}


def test_demo_outputs_are_byte_for_byte_the_reference(tmp_path: Path) -> None:
    out = tmp_path / "out"
    got = digests(masked_outputs(out, *run_demo(out)))
    want = json.loads(REFERENCE.read_text(encoding="utf-8"))["sha256"]
    changed = sorted(n for n in set(got) & set(want) if got[n] != want[n])
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    assert not (changed or missing or extra), (
        f"`phrasecheck {' '.join(COMMAND)} OUT` no longer writes the reference outputs:\n"
        f"  changed: {changed}\n  missing: {missing}\n  new: {extra}\n"
        "If the change is intended, run `python tests/test_demo_outputs.py --update` and say "
        "why in the commit; to see the difference, run `python tests/test_demo_outputs.py "
        "--write DIR` here and in the previous checkout and `diff -r` the two folders.")


def test_masking_touches_only_the_run_time() -> None:
    html = "<p>生成于 (generated) 2031-05-06 07:08 · demo 2031-05-06 07:07</p>".encode()
    start = datetime.datetime(2031, 5, 6, 7, 8, 30).timestamp()
    stamps = _minutes(start, start + 5, "%Y-%m-%d %H:%M", utc=False)
    assert _mask(html, stamps, "[run time]").decode() == (
        "<p>生成于 (generated) [run time] · demo 2031-05-06 07:07</p>")


def _main(argv: list[str]) -> int:
    import tempfile

    if len(argv) == 1 and argv[0] == "--update":
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "out"
            got = digests(masked_outputs(out, *run_demo(out)))
        REFERENCE.write_text(json.dumps(
            {"command": f"phrasecheck {' '.join(COMMAND)} OUT",
             "note": "written by `python tests/test_demo_outputs.py --update`; see its "
                     "docstring for what is masked",
             "sha256": got}, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
            encoding="utf-8")
        print(f"wrote {REFERENCE.relative_to(ROOT)} ({len(got)} files)")
        return 0
    if len(argv) == 2 and argv[0] == "--write":
        dest = Path(argv[1])
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "out"
            files = masked_outputs(out, *run_demo(out))
        shutil.rmtree(dest, ignore_errors=True)
        for name, data in files.items():
            target = dest / name.replace("!", "/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        print(f"wrote {len(files)} masked files under {dest}")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
