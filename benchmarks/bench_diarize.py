"""Undiarised calls on one core: diarisation and scoring, beside a bare jieba pass.

    python benchmarks/bench_diarize.py [--repeat 5] [--cpu 0] [--quick]

Input: the undiarised calls of ``corpora/calls/txt`` (one ``.txt`` per call, no speaker
labels, as cheap ASR engines return them: pauses as spaces, ASR commas, line breaks or
nothing). Every figure is the median of --repeat runs, the rows interleaved within each
repeat so machine noise falls on all alike.

Rows (characters of call text per second; the ratio is against bare jieba):
  bare jieba   ``jieba.Tokenizer().lcut`` of every call's text: the baseline;
  diarise      ``phrasecheck.diarize.diarize`` of every call's lines with the warm shipped
               model: cut into pieces, role model, CRF tagger, turns;
  read         ``list(read_conversations(DIR))``: open, detect encoding, find no speaker
               labels, diarise, build the conversations;
  read+score   ``analyzer.score_many(read_conversations(DIR))``: what ``phrasecheck score``
               does with such a folder, without writing anything.
No target: the issue that brought undiarised input (13) set none; the figure tells QA staff
what a folder of undiarised calls costs against labelled ones (``bench_throughput.py``).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import machine  # noqa: E402

CALLS = HERE.parent / "corpora" / "calls" / "txt"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--cpu", type=int, default=0, help="the core to pin to")
    ap.add_argument("--quick", action="store_true", help="one repeat")
    args = ap.parse_args()
    repeat = 1 if args.quick else args.repeat

    print(machine())
    os.sched_setaffinity(0, {args.cpu})
    print(f"pinned to core {args.cpu}: affinity {sorted(os.sched_getaffinity(0))}")

    import jieba

    from phrasecheck import Analyzer, read_conversations
    from phrasecheck.diarize import _default_tokenize, default_diarize_model, diarize

    files = sorted(CALLS.glob("*.txt"))
    if not files:
        raise SystemExit(f"no calls in {CALLS}: run python corpora/calls/build.py")
    calls = [f.read_text(encoding="utf-8").splitlines() for f in files]
    texts = ["".join(lines) for lines in calls]
    chars = sum(len(t) for t in texts)
    analyzer = Analyzer().warm()
    model = default_diarize_model()
    tokenize = _default_tokenize()
    diarize(calls[0], model, tokenize)
    jieba.setLogLevel(logging.WARNING)
    tk = jieba.Tokenizer()
    tk.initialize()
    labels = model.spec["tagger"]["labels"]
    convs = list(read_conversations(CALLS))
    turns = sum(len(c.turns) for c in convs if hasattr(c, "turns"))
    print(f"input: {CALLS.relative_to(HERE.parent)}: {len(files)} calls, {chars:,} characters; "
          f"read as {turns:,} inferred turns; diariser: tagger labels "
          f"{'/'.join(sorted({lab[-1] for lab in labels}))}, decoding {model.decode}, "
          f"change bias {model.change_bias:g}")

    def bare_jieba() -> None:
        for t in texts:
            tk.lcut(t)

    def diarise() -> None:
        for lines in calls:
            diarize(lines, model, tokenize)

    def read() -> None:
        list(read_conversations(CALLS))

    def read_score() -> None:
        for _ in analyzer.score_many(read_conversations(CALLS)):
            pass

    rows: list[tuple[str, Callable[[], None]]] = [
        ("bare jieba", bare_jieba), ("diarise", diarise), ("read", read),
        ("read+score", read_score)]
    times: dict[str, list[float]] = {name: [] for name, _ in rows}
    for r in range(repeat):
        order = rows[r % len(rows):] + rows[:r % len(rows)]
        for name, fn in order:
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
        print(f"  repeat {r + 1}/{repeat} done; load average {os.getloadavg()[0]:.2f}",
              flush=True)
    med = {name: statistics.median(v) for name, v in times.items()}
    base = chars / med["bare jieba"]
    print()
    print(f"{'':12} {'seconds':>9} {'chars/s':>11} {'vs bare jieba':>14} {'ms per call':>12}")
    for name, _ in rows:
        rate = chars / med[name]
        print(f"{name:12} {med[name]:9.3f} {rate:11,.0f} {rate / base:13.2f}x "
              f"{1000 * med[name] / len(files):12.1f}")


if __name__ == "__main__":
    main()
