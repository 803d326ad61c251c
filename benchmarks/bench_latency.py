"""Real-time latency of one message, warm, on one core, beside baselines from the same run.

    python benchmarks/bench_latency.py [--calls 6000] [--cpu 0] [--quick]

Messages: every distinct agent reply of corpora/replies and agent turn of corpora/demo that is
10–120 characters long (realistic chat messages), in a fixed shuffled order, as many passes as
it takes to make --calls calls. Before each pass the tokenizer's clause cache is cleared, so
no call profits from having seen its message before. Each message goes through every row
below in turn (rotating which row goes first), so machine noise falls on all rows alike.

Rows (µs per call: p50 / p90 / p99 / max):
  jieba.lcut      a bare ``jieba.lcut`` of the message: the baseline;
  scan            ``PhraseMatcher.scan``: normalise + automaton + verification;
  check(no clf)   ``Analyzer.check_text(text, classify=False)``: lexicon findings;
  predict         the reply-tone model's ``predict([text])`` alone (when there is a model);
  check_text      ``Analyzer.check_text(text)``: lexicon + classifier, what a chat system
                  calls. Target (issue 7): p99 <= 1 ms on one core.
"""

from __future__ import annotations

import argparse
import csv
import gc
import logging
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

TARGET_P99_US = 1000.0


def messages(lo: int = 10, hi: int = 120) -> list[str]:
    from phrasecheck import read_conversations

    texts: dict[str, None] = {}
    for path in sorted((ROOT / "corpora" / "replies").glob("replies_*.csv")):
        with open(path, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                texts[row["text"]] = None
    for conv in read_conversations(ROOT / "corpora" / "demo"):
        for t in conv.turns:
            if t.role == "agent":
                texts[t.text] = None
    out = [t for t in texts if lo <= len(t) <= hi]
    random.Random(20261127).shuffle(out)
    return out


def percentiles(ns: list[int]) -> dict[str, float]:
    s = sorted(ns)

    def p(q: float) -> float:
        return s[min(len(s) - 1, math.ceil(q * len(s)) - 1)] / 1000

    return {"p50": p(0.50), "p90": p(0.90), "p99": p(0.99), "max": s[-1] / 1000,
            "mean": statistics.fmean(s) / 1000}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=6000, help="calls per row (>= 5000)")
    ap.add_argument("--cpu", type=int, default=0, help="the core to pin to")
    ap.add_argument("--quick", action="store_true", help="1,000 calls per row")
    args = ap.parse_args()
    calls = 1000 if args.quick else args.calls

    print(machine())
    os.sched_setaffinity(0, {args.cpu})
    print(f"pinned to core {args.cpu}: affinity {sorted(os.sched_getaffinity(0))}")

    import jieba

    from phrasecheck import Analyzer

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    analyzer = Analyzer().warm()
    matcher = analyzer.matcher("agent")
    model = analyzer.model
    msgs = messages()
    lengths = [len(m) for m in msgs]
    print(f"messages: {len(msgs):,} distinct agent messages of 10–120 characters "
          f"(median {statistics.median(lengths):.0f}); {calls:,} calls per row")
    print(f"analyzer: {analyzer!r}")
    if model is None:
        print("NOTE: no reply-tone model is installed (src/phrasecheck/models/tone.json): "
              "check_text runs WITHOUT the classifier; the classifier rows are missing")

    rows: list[tuple[str, Callable[[str], Any]]] = [
        ("jieba.lcut", jieba.lcut),
        ("scan", matcher.scan),
        ("check(no clf)", lambda t: analyzer.check_text(t, classify=False)),
    ]
    if model is not None:
        rows.append(("predict", lambda t: model.predict([t])))
    rows.append(("check_text", analyzer.check_text))
    clear = getattr(getattr(analyzer.tokenizer, "boundaries", None), "cache_clear", None)

    times: dict[str, list[int]] = {name: [] for name, _ in rows}
    clock = time.perf_counter_ns
    passes = math.ceil(calls / len(msgs))
    done = 0
    started = time.perf_counter()
    for _ in range(passes):
        if clear is not None:
            clear()
        for text in msgs:
            if done >= calls:
                break
            k = done % len(rows)
            for name, fn in rows[k:] + rows[:k]:
                t0 = clock()
                fn(text)
                times[name].append(clock() - t0)
            done += 1
    wall = time.perf_counter() - started
    print(f"{done:,} messages x {len(rows)} rows in {wall:.1f} s; gc enabled "
          f"(collections: {sum(s['collections'] for s in gc.get_stats())})")

    base = percentiles(times["jieba.lcut"])
    print()
    print(f"{'µs per call':14} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>9} {'mean':>8}"
          f"   {'p50 / jieba':>11} {'p99 / jieba':>11}")
    for name, _ in rows:
        p = percentiles(times[name])
        print(f"{name:14} {p['p50']:8.1f} {p['p90']:8.1f} {p['p99']:8.1f} {p['max']:9.1f} "
              f"{p['mean']:8.1f}   {p['p50'] / base['p50']:10.2f}x {p['p99'] / base['p99']:10.2f}x")
    p99 = percentiles(times["check_text"])["p99"]
    verdict = "MET" if p99 <= TARGET_P99_US else "NOT MET"
    what = "with the classifier" if model is not None else "WITHOUT a classifier (no model)"
    print(f"\ntarget: check_text p99 <= {TARGET_P99_US:.0f} µs {what}: {p99:.1f} µs — {verdict}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
