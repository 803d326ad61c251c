"""Memory: peak RSS of ``phrasecheck score`` over N and 10 x N conversations, in one run.

    python benchmarks/bench_memory.py [--conversations 500] [--jobs 1] [--quick]

Each figure is the peak resident set size (``ru_maxrss`` of ``RUSAGE_CHILDREN``, read by a
small wrapper process around one fresh ``phrasecheck score DIR --jobs 1 --quiet --format F
--out FRESH``, so no other child is counted), for the outputs:
  jsonl                 records + scores/findings/errors.jsonl (the streaming path);
  csv, xlsx, html       one report format at a time (to tell which writer holds memory);
  csv,xlsx,html         the default formats.
Rows: a 1-conversation input (the floor: interpreter, imports, Analyzer), N and 10 x N
conversations from ``benchmarks/corpus.py`` (deterministic, in ``benchmarks/.data/``).
Target (issue 7): peak RSS grows by under 20% from N to 10 x N.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import WRAPPER, corpus_chars, ensure_corpus, machine, phrasecheck_cmd  # noqa: E402

DATA = HERE / ".data"
TARGET = 0.20
FORMATS = ("jsonl", "csv", "xlsx", "html", "csv,xlsx,html")


def peak(src: Path, fmt: str, jobs: int) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of one fresh ``phrasecheck score`` run."""
    out = DATA / "memory_out"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-c", WRAPPER, *phrasecheck_cmd(), "score", str(src), "--jobs",
           str(jobs), "--format", fmt, "--quiet", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    rec = json.loads(proc.stdout)
    if rec["rc"] not in (0, 1):
        sys.exit(f"phrasecheck score failed ({rec['rc']}):\n{rec['stderr']}")
    shutil.rmtree(out, ignore_errors=True)
    return rec["maxrss_kb"] / 1024, rec["wall"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conversations", type=int, default=500, help="N (and 10 x N)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--formats", default=";".join(FORMATS),
                    help="';'-separated --format values to measure")
    ap.add_argument("--quick", action="store_true", help="N = 100")
    args = ap.parse_args()
    n = 100 if args.quick else args.conversations
    formats = [f for f in args.formats.split(";") if f]

    print(machine())
    sizes = [1, n, 10 * n]
    srcs = {k: ensure_corpus(k) for k in sizes}
    for k, src in srcs.items():
        chars = corpus_chars(src)
        print(f"input: {src.relative_to(HERE.parent)}: {k:,} conversations, {chars:,} chars")
    print(f"command: {' '.join(phrasecheck_cmd())} score DIR --jobs {args.jobs} --quiet "
          "--format F --out FRESH")
    if args.jobs > 1:
        print("NOTE: with --jobs > 1 the figure is the largest single process, not the sum")

    results: dict[tuple[str, int], tuple[float, float]] = {}
    for fmt in formats:
        for k in sizes:
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            results[(fmt, k)] = peak(srcs[k], fmt, args.jobs)
            print(f"  {fmt:14} {k:6,} conversations: {results[(fmt, k)][0]:7.1f} MB in "
                  f"{time.perf_counter() - t0:6.1f} s (load average before {load:.2f})",
                  flush=True)

    print()
    print(f"{'peak RSS (MB)':16} {'1 conv':>8} {f'N={n:,}':>9} {f'10N={10 * n:,}':>11} "
          f"{'10N / N':>8} {'above floor':>12}   verdict")
    worst = 0.0
    for fmt in formats:
        floor, small, big = (results[(fmt, k)][0] for k in sizes)
        growth = big / small - 1
        above = (big - floor) / max(small - floor, 1e-9)
        worst = max(worst, growth) if fmt in ("jsonl", "csv,xlsx,html") else worst
        verdict = "MET" if growth < TARGET else "NOT MET"
        print(f"{fmt:16} {floor:8.1f} {small:9.1f} {big:11.1f} {growth:+7.1%} "
              f"{above:11.1f}x   {verdict}")
    print("\n'above floor': growth of (peak - 1-conversation peak) from N to 10N; a flat "
          "pipeline stays near 1x, one that holds everything in memory goes towards 10x")
    print(f"target: peak RSS grows < {TARGET:.0%} from N to 10N — worst of jsonl and the "
          f"default formats: {worst:+.1%} — {'MET' if worst < TARGET else 'NOT MET'}")


if __name__ == "__main__":
    main()
