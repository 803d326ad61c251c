"""Batch throughput end to end on one core, beside a bare jieba pass over the same texts.

    python benchmarks/bench_throughput.py [--conversations 1000] [--repeat 3] [--cpu 0]
                                          [--profile] [--quick] [--distinct]

Input: JSONL files written by ``benchmarks/corpus.py`` (``generate(n)`` + ``write``) into
``benchmarks/.data/`` (deterministic; generated once). Every figure is the median of
--repeat runs, the rows interleaved within each repeat so machine noise falls on all alike.
The corpus's turns come from finite pools and repeat, more than real calls do; ``score_many``
scores a text met again in its batch once. ``--distinct`` gives every turn a case number of
its own (``corpus.generate(distinct=True)``), so nothing repeats: the harder measure.

Rows (characters of turn text per second; the ratio is against bare jieba):
  bare jieba      ``jieba.Tokenizer().lcut`` of every turn text: the baseline;
  read            ``list(read_conversations(DIR))``: open, detect encoding, parse, build;
  score           ``Analyzer.score_many`` of every conversation (already read): normalise,
                  match, classify agent turns (32 conversations' agent turns per model call),
                  apply policy;
  score, one by one  ``Analyzer.score`` of each conversation (the model called once per
                  conversation), for comparison;
  read+score      streaming ``analyzer.score_many(read_conversations(DIR))``: what
                  ``run_batch(jobs=1)`` does, without writing anything. Target (issue 7):
                  >= 2x bare jieba;
  run_batch       ``run_batch(read_conversations(DIR), OUT, formats=("jsonl",), jobs=1)``:
                  the same plus the records file and scores/findings/errors.jsonl, and the
                  build of its own Analyzer and its jieba/model loads (timed on its own as
                  ``Analyzer().warm()``: the row ``run_batch - build`` takes it out).
Breakdown of ``score`` (same conversations; parts measured on their own):
  normalise       ``Normalizer.normalize`` of every turn;
  match           ``Analyzer.turn_findings`` (normalise + automaton + findings) of every turn;
  classify        time inside the model's ``predict`` during ``score`` (0 without a model);
  policy + rest   score - match - classify.
``--profile`` adds a cProfile of one read+score pass and one run_batch pass.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import pstats
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import ensure_corpus, machine  # noqa: E402

DATA = HERE / ".data"
BATCH = 32  # conversations per model call in Analyzer.score_many (its default)
TARGET_RATIO = 2.0


class TimedModel:
    """Wraps a tone model and adds up the time spent in ``predict``."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.seconds = 0.0
        self.texts = 0

    def predict(self, texts: list[str]) -> Any:
        return self._timed(self.model.predict, texts)

    def predict_shared(self, texts: list[str]) -> Any:
        """What the Analyzer calls when the model has it (results it only reads)."""
        return self._timed(self.model.predict_shared, texts)

    def _timed(self, fn: Callable[[list[str]], Any], texts: list[str]) -> Any:
        t0 = time.perf_counter()
        out = fn(texts)
        self.seconds += time.perf_counter() - t0
        self.texts += len(texts)
        return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conversations", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cpu", type=int, default=0, help="the core to pin to")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--quick", action="store_true", help="200 conversations")
    ap.add_argument("--distinct", action="store_true",
                    help="every turn distinct: no repeat within a batch for score_many to "
                         "score once (see corpus.generate)")
    args = ap.parse_args()
    n = 200 if args.quick else args.conversations

    print(machine())
    os.sched_setaffinity(0, {args.cpu})
    print(f"pinned to core {args.cpu}: affinity {sorted(os.sched_getaffinity(0))}")

    import jieba

    from phrasecheck import Analyzer, read_conversations
    from phrasecheck.batch import BatchConfig, run_batch

    src = ensure_corpus(n, distinct=args.distinct)
    probe = Analyzer()
    real_model = probe.model
    timed = TimedModel(real_model) if real_model is not None else None
    analyzer = Analyzer(model=timed).warm()
    jieba.setLogLevel(logging.WARNING)
    tk = jieba.Tokenizer()
    tk.initialize()

    convs = list(read_conversations(src))
    texts = [t.text for c in convs for t in c.turns]
    agent_turns = sum(1 for c in convs for t in c.turns if t.role == "agent")
    chars = sum(len(t) for t in texts)
    files = sorted(src.glob("*.jsonl"))
    mb = sum(p.stat().st_size for p in files) / 1e6
    print(f"input: {src.relative_to(HERE.parent)}: {len(files)} JSONL files ({mb:.1f} MB), "
          f"{len(convs):,} conversations, {len(texts):,} turns ({agent_turns:,} agent), "
          f"{chars:,} characters")
    print(f"analyzer: {analyzer.policy.name} policy, {len(analyzer.lexicon.entries)} lexicon "
          f"entries, model: {'yes' if timed else 'NONE (no model installed: classify = 0)'}")

    out_dir = DATA / "throughput_out"
    normalize = analyzer.normalizer.normalize
    classify_times: list[float] = []

    def bare_jieba() -> None:
        for t in texts:
            tk.lcut(t)

    def read() -> None:
        list(read_conversations(src))

    def score() -> None:
        if timed is not None:
            timed.seconds = 0.0
        for _ in analyzer.score_many(convs):
            pass
        classify_times.append(timed.seconds if timed is not None else 0.0)

    def score_each() -> None:
        for c in convs:
            analyzer.score(c)

    def read_score() -> None:
        for _ in analyzer.score_many(read_conversations(src)):
            pass

    def normalise() -> None:
        for t in texts:
            normalize(t)

    def match() -> None:
        for c in convs:
            analyzer.turn_findings(c)

    def batch() -> None:
        shutil.rmtree(out_dir, ignore_errors=True)
        run_batch(read_conversations(src), out_dir, config=BatchConfig(), formats=("jsonl",),
                  jobs=1, analyzer=analyzer)

    def build() -> None:
        BatchConfig().build().warm()  # run_batch(jobs=1) builds one; it loads jieba and the
        # model on first use (jieba as soon as a candidate needs a token-boundary check)

    rows: list[tuple[str, Callable[[], None]]] = [
        ("bare jieba", bare_jieba), ("read", read), ("score", score),
        ("score, one by one", score_each), ("read+score", read_score), ("run_batch", batch),
        ("normalise", normalise), ("match", match), ("build+warm", build),
    ]
    times: dict[str, list[float]] = {name: [] for name, _ in rows}
    for r in range(args.repeat):
        order = rows[r % len(rows):] + rows[:r % len(rows)]
        for name, fn in order:
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
        print(f"  repeat {r + 1}/{args.repeat} done; load average "
              f"{os.getloadavg()[0]:.2f}", flush=True)
    shutil.rmtree(out_dir, ignore_errors=True)
    med = {name: statistics.median(v) for name, v in times.items()}
    med["classify"] = statistics.median(classify_times)
    med["policy + rest"] = med["score"] - med["match"] - med["classify"]
    base = chars / med["bare jieba"]

    print()
    print(f"{'':18} {'seconds':>9} {'chars/s':>13} {'vs bare jieba':>14}")
    med["run_batch - build"] = med["run_batch"] - med["build+warm"]
    for name in ("bare jieba", "read", "score", "score, one by one", "read+score",
                 "run_batch", "run_batch - build"):
        rate = chars / med[name]
        print(f"{name:18} {med[name]:9.3f} {rate:13,.0f} {rate / base:13.2f}x")
    print(f"(run_batch builds its own Analyzer, which loads jieba and the model on first use: "
          f"Analyzer().warm() alone takes {med['build+warm']:.3f} s)")
    print("\nbreakdown of score:")
    for name in ("normalise", "match", "classify", "policy + rest"):
        share = med[name] / med["score"]
        print(f"  {name:14} {med[name]:9.3f} s  {share:6.1%} of score   "
              f"{chars / med[name] if med[name] > 0 else float('inf'):13,.0f} chars/s")
    if timed is not None:
        # ToneModel.predict scores a text repeated within one call once: say how much of
        # this input that is (a property of the generated corpus, stated, not hidden)
        repeats = 0
        for i in range(0, len(convs), BATCH):
            texts = [t.text for c in convs[i:i + BATCH] for t in c.turns
                     if t.role == "agent" and t.text.strip()]
            repeats += len(texts) - len(set(texts))
        print(f"  (classifier: {agent_turns:,} agent turns; "
              f"{med['classify'] / max(agent_turns, 1) * 1e6:.1f} µs per turn; "
              f"{repeats / max(agent_turns, 1):.0%} of them repeat an earlier text of their "
              f"{BATCH}-conversation batch and are scored once)")
    ratio = chars / med["read+score"] / base
    verdict = "MET" if ratio >= TARGET_RATIO else "NOT MET"
    print(f"\ntarget: read+score >= {TARGET_RATIO:.0f}x bare jieba: {ratio:.2f}x — {verdict}"
          + ("" if timed else " (without a classifier: no model installed)"))

    if args.profile:
        for name, fn in (("read+score", read_score), ("run_batch", batch)):
            prof = cProfile.Profile()
            prof.enable()
            fn()
            prof.disable()
            for key in ("tottime", "cumulative"):
                buf = io.StringIO()
                pstats.Stats(prof, stream=buf).sort_stats(key).print_stats(16)
                lines = [ln for ln in buf.getvalue().splitlines() if ln.strip()]
                print(f"\nprofile of one {name} pass, by {key}:")
                print("\n".join(lines[3:]))
        shutil.rmtree(out_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
