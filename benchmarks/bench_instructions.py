"""Batch work counted in CPU instructions, beside a bare jieba pass over the same texts.

    python benchmarks/bench_instructions.py [--conversations 1000] [--quick]

On a shared machine the wall-clock figures of ``bench_throughput.py`` swing by ±20 % from
run to run (the same code measured 1.51x and 2.02x bare jieba within ten minutes), which
hides any change smaller than that. Instructions executed do not swing: this script runs
each side under valgrind's cachegrind (``--cache-sim=no``: it only counts instructions) and
prints the count of

  read+score   ``analyzer.score_many(read_conversations(DIR))`` of the benchmark corpus,
               what ``bench_throughput.py``'s ``read+score`` row times;
  bare jieba   ``jieba.Tokenizer().lcut`` of every turn text, its baseline.

Each count is a run doing the work minus a run doing everything else (start-up, imports,
building the Analyzer and warming it, a short batch that builds the model's batch tables;
for jieba, loading its dictionary and reading the texts), so only the measured work is left.

An instruction is not a unit of time: numpy's vectorised loops and jieba's interpreted
Python do different amounts per nanosecond, and cache misses cost no instructions. The
ratio is a steady signal for before/after comparisons of the same code paths; the target
itself (read+score >= 2x bare jieba) is judged on time, by ``bench_throughput.py``.
Needs ``valgrind`` on PATH (Debian: ``apt-get install valgrind``); about 4 minutes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import ensure_corpus, machine  # noqa: E402

OURS = """
import sys
from pathlib import Path
from phrasecheck import Analyzer, read_conversations
d = Path(sys.argv[1])
a = Analyzer(); a.warm()
first = sorted(d.glob("*.jsonl"))[0]
list(a.score_many(list(read_conversations(first))[:64]))  # builds the batch tables
if sys.argv[2] == "work":
    list(a.score_many(read_conversations(d)))
"""

JIEBA = """
import sys
from pathlib import Path
import jieba
from phrasecheck import read_conversations
texts = [t.text for c in read_conversations(Path(sys.argv[1])) for t in c.turns]
tk = jieba.Tokenizer(); tk.lcut("您好")
if sys.argv[2] == "work":
    for t in texts:
        tk.lcut(t)
"""

_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def instructions(code: str, corpus: Path, mode: str) -> int:
    cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no",
           "--cachegrind-out-file=/dev/null", sys.executable, "-c", code, str(corpus), mode]
    env = dict(os.environ)
    src = HERE.parent / "src"
    if (src / "phrasecheck").is_dir():  # this checkout's phrasecheck, absolute
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    m = _REFS.search(done.stderr)
    if done.returncode != 0 or m is None:
        raise SystemExit(f"valgrind run failed ({mode}, exit {done.returncode}):\n"
                         f"{done.stderr[-2000:]}")
    return int(m.group(1).replace(",", ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conversations", type=int, default=1000)
    ap.add_argument("--quick", action="store_true", help="100 conversations")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("bench_instructions.py needs valgrind on PATH "
                         "(Debian/Ubuntu: apt-get install valgrind)")
    n = 100 if args.quick else args.conversations
    corpus = ensure_corpus(n)
    chars = sum(len(line) for p in sorted(corpus.glob("*.jsonl"))
                for line in p.read_text(encoding="utf-8").splitlines())
    print(machine())
    print(f"input: {corpus} ({n:,} conversations, {chars:,} characters of JSONL)")
    counts = {}
    for name, code in (("read+score", OURS), ("bare jieba", JIEBA)):
        base = instructions(code, corpus, "base")
        work = instructions(code, corpus, "work")
        counts[name] = work - base
        print(f"  {name}: {work:,} - {base:,} = {work - base:,} instructions", flush=True)
    ours, jieba = counts["read+score"], counts["bare jieba"]
    print()
    print(f"{'':14s}{'instructions':>16s}{'vs bare jieba':>16s}")
    print(f"{'bare jieba':14s}{jieba:>16,}{1.0:>15.2f}x")
    print(f"{'read+score':14s}{ours:>16,}{jieba / ours:>15.2f}x")
    print(f"\nbare jieba does {jieba / ours:.2f}x the instructions of read+score "
          "(time target, judged by bench_throughput.py: read+score >= 2x bare jieba)")


if __name__ == "__main__":
    main()
