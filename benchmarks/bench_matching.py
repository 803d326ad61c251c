"""Lexicon matching throughput, side by side with its practical limits, in one run.

    python benchmarks/bench_matching.py [--chars 2000000] [--repeat 7]

Prints characters per second (median of --repeat runs) for:
  bare-aho     a bare pyahocorasick ``Automaton.iter`` over the same text with the same
               (folded) patterns: the practical limit;
  bare-jieba   a bare ``jieba.lcut`` over the same text;
  scan         phrasecheck's PhraseMatcher.scan: normalise + scan + verify, spans mapped back;
  findings     scan plus building the self-explaining Finding objects;
  per-turn     scan called once per turn (how the Analyzer uses it), same text.
Target (issue 2): scan >= 50% of bare-aho.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _median_rate(fn, chars: int, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return chars / statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chars", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()

    import ahocorasick
    import jieba
    from corpus import long_text

    from phrasecheck import Analyzer

    text = long_text(args.chars)
    turns = text.split("\n")
    analyzer = Analyzer(model=None).warm()
    matcher = analyzer.matcher("agent")
    bare = ahocorasick.Automaton()
    for p in matcher.patterns:
        bare.add_word(p, p)
    bare.make_automaton()
    tk = jieba.Tokenizer()
    tk.initialize()
    n = len(text)

    def bare_aho() -> None:
        for _ in bare.iter(text):
            pass

    rows = [
        ("bare-aho", _median_rate(bare_aho, n, args.repeat)),
        ("bare-jieba", _median_rate(lambda: tk.lcut(text), n, max(1, args.repeat // 3))),
        ("scan", _median_rate(lambda: matcher.scan(text), n, args.repeat)),
        ("findings", _median_rate(lambda: matcher.findings(text), n, args.repeat)),
        ("per-turn", _median_rate(lambda: [matcher.scan(t) for t in turns], n, args.repeat)),
    ]
    hits = len(matcher.scan(text))
    raw = sum(1 for _ in bare.iter(text))
    base = rows[0][1]
    print(f"text: {n:,} characters, {len(turns):,} turns; {len(matcher.patterns):,} patterns; "
          f"{raw:,} raw automaton hits, {hits:,} verified")
    print(f"{'':12} {'chars/s':>14} {'vs bare-aho':>12}")
    for name, rate in rows:
        print(f"{name:12} {rate:14,.0f} {rate / base:11.1%}")


if __name__ == "__main__":
    main()
