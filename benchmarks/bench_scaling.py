"""Process scaling: ``phrasecheck score DIR --jobs 2`` against ``--jobs 1``, same input, one run.

    python benchmarks/bench_scaling.py [--conversations 2000 10000] [--repeat 3] [--quick]

Each run is a fresh ``phrasecheck score DIR --jobs N --format jsonl --quiet --out OUT``
subprocess (a fresh, empty OUT every time); wall time, median of --repeat runs, the jobs=1
and jobs=2 runs interleaved. The load average is printed before every run: other processes
share the machine, and a ratio measured on a busy 2-core machine says little.

Also measured, the same way: the fixed cost of a run (the same command on a 1-conversation
input: interpreter, imports, Analyzer builds, worker start-up), so that the ratio of the
variable part can be told from the ratio of the whole. Target (issue 7): >= 1.7x.

Two input sizes by default, because the ratio depends on the size: about 1.5 s of a
``--jobs 2`` run is serial start-up (interpreter, imports, lexicon automata, jieba's
dictionary, the model, warmed once before the workers fork), which a second process cannot
share. 2,000 conversations (about 80,000 turns) is a small batch; 10,000 (about 400,000
turns, a day of a mid-sized hotline) is the size the verdict is given for, and both are
printed. (``--jobs 1`` loads jieba and the model only when the input needs them, so its
1-conversation run is cheaper and the "variable part" of ``--jobs 1`` includes that load.)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import corpus_chars, ensure_corpus, machine, phrasecheck_cmd  # noqa: E402

DATA = HERE / ".data"
TARGET = 1.7


def ensure_tiny() -> Path:
    from corpus import generate

    out = DATA / "corpus_tiny"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "one.jsonl", "w", encoding="utf-8") as fh:
        fh.write(json.dumps(generate(1)[0], ensure_ascii=False) + "\n")
    return out


def run(src: Path, jobs: int, tag: str) -> tuple[float, float]:
    out = DATA / f"scaling_out_{tag}_{jobs}"
    shutil.rmtree(out, ignore_errors=True)
    load = os.getloadavg()[0]
    cmd = [*phrasecheck_cmd(), "score", str(src), "--jobs", str(jobs), "--format", "jsonl",
           "--quiet", "--out", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    with open(out / "scores.jsonl", encoding="utf-8") as fh:
        lines = sum(1 for _ in fh)
    shutil.rmtree(out, ignore_errors=True)
    print(f"  {tag:5} jobs={jobs}: {wall:7.2f} s  ({lines:,} scored; load average before "
          f"{load:.2f})", flush=True)
    return wall, load


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conversations", type=int, nargs="+", default=[2000, 10000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="500 conversations")
    args = ap.parse_args()
    sizes = [500] if args.quick else args.conversations

    print(machine())
    print(f"cores available to this process: {len(os.sched_getaffinity(0))}")
    print(f"command: {' '.join(phrasecheck_cmd())} score DIR --jobs N --format jsonl --quiet "
          "--out FRESH")
    tiny = ensure_tiny()
    ratios = [(n, measure(n, tiny, args.repeat)) for n in sizes]
    n, ratio = ratios[-1]
    verdict = "MET" if ratio >= TARGET else "NOT MET"
    others = "; ".join(f"{m:,} conversations {r:.2f}x" for m, r in ratios[:-1])
    print(f"\ntarget: jobs=2 >= {TARGET}x jobs=1, at {n:,} conversations: {ratio:.2f}x — "
          f"{verdict}" + (f" ({others})" if others else ""))


def measure(n: int, tiny: Path, repeat: int) -> float:
    """Median wall times of jobs=1 and jobs=2 on n conversations and on one; the ratio."""
    src = ensure_corpus(n)
    chars = corpus_chars(src)
    print(f"\ninput: {src.relative_to(HERE.parent)}: {n:,} conversations, {chars:,} characters")
    walls: dict[tuple[str, int], list[float]] = {}
    loads: list[float] = []
    for r in range(repeat):
        order = (1, 2) if r % 2 == 0 else (2, 1)
        for tag, where in (("fixed", tiny), ("full", src)):
            for jobs in order:
                wall, load = run(where, jobs, tag)
                walls.setdefault((tag, jobs), []).append(wall)
                loads.append(load)
    med = {k: statistics.median(v) for k, v in walls.items()}
    print()
    print(f"{'':28} {'jobs=1':>9} {'jobs=2':>9} {'1 / 2':>8}")
    for tag, label in (("full", f"{n:,} conversations (s)"), ("fixed", "1 conversation (s)")):
        one, two = med[(tag, 1)], med[(tag, 2)]
        print(f"{label:28} {one:9.2f} {two:9.2f} {one / two:7.2f}x")
    v1 = med[("full", 1)] - med[("fixed", 1)]
    v2 = med[("full", 2)] - med[("fixed", 2)]
    print(f"{'variable part (s)':28} {v1:9.2f} {v2:9.2f} {v1 / v2:7.2f}x")
    print(f"{'chars/s (whole run)':28} {chars / med[('full', 1)]:9,.0f} "
          f"{chars / med[('full', 2)]:9,.0f}")
    print(f"load average before the runs: min {min(loads):.2f}, median "
          f"{statistics.median(loads):.2f}, max {max(loads):.2f} "
          f"(on {os.cpu_count()} CPUs; above ~0.5 the second core is not free)")
    return med[("full", 1)] / med[("full", 2)]


if __name__ == "__main__":
    main()
