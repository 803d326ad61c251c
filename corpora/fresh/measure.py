"""Measure the SHIPPED models on the fresh test sets; writes corpora/fresh/RESULTS.md.

    python corpora/fresh/measure.py

``calls_*.jsonl`` holds undiarised ASR calls in the format of ``corpora/calls`` (utterances with
gold roles; gold greeting / closing / rude / evasive per call); ``context_*.jsonl`` holds whole
conversations in the format of ``corpora/context`` (gold complaint and hold events, and the
outcomes of the three context rules). All were written by hand after the shipped models were
frozen (2026-12-03). They are a second test set: nothing is trained on them. Their first
look (``RESULTS_first_look.md``) is the independent one: the errors it showed were fixed
from other data afterwards, so later runs measure models chosen in its light.
``corpora/context/evaluate.py`` reads only ``corpora/calls/calls*.jsonl`` and
``corpora/context/*.jsonl`` and never sees them (``tests/test_context_corpora.py`` checks it).

It reports what ``evaluate.py`` reports for its held-out items, with the same code:

* calls: utterance role accuracy per layout (``utterance_accuracy``), and per call whether
  phrasecheck's greeting / closing / rude / evasive outcomes agree with the gold
  (``call_outcome``), from the undiarised text and, to separate diarisation errors from the
  rest, from the gold roles (``labelled``);
* conversations: per rule, precision / recall / F1 of the defect (a ``fail``) and agreement
  (``defect_counts``, ``prf``), the three rules together; and the events beneath them:
  complaint turns and hold announcements found against the gold ones.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "corpora" / "context"))
sys.path.insert(0, str(ROOT / "corpora" / "calls"))

import evaluate as E  # noqa: E402  (corpora/context/evaluate.py)
from build import read_jsonl  # noqa: E402  (corpora/calls/build.py)

OUT = HERE / "RESULTS.md"
KEYS = ("greeting", "closing", "rude", "evasive")


def _calls_section(scorer: Any, calls: Sequence[Mapping[str, Any]]) -> list[str]:
    ok, n = E.utterance_accuracy(calls, None)  # None: the shipped diarisation model
    agree: Counter[str] = Counter()
    oracle: Counter[str] = Counter()
    gold_true: Counter[str] = Counter()
    misses: list[str] = []
    for call in calls:
        mono = E.call_outcome(scorer.score(E.undiarised(call)))
        with_roles = E.call_outcome(scorer.score(E.labelled(call)))
        gold = {k: bool(call["gold"][k]) for k in KEYS}
        for k in KEYS:
            agree[k] += mono[k] == gold[k]
            oracle[k] += with_roles[k] == gold[k]
            gold_true[k] += gold[k]
            if mono[k] != gold[k]:
                misses.append(f"{call['id']} {k}: gold {gold[k]}, phrasecheck {mono[k]}"
                              + ("" if with_roles[k] != gold[k] else " (right with gold roles)"))
        agree["all four"] += all(mono[k] == gold[k] for k in KEYS)
        oracle["all four"] += all(with_roles[k] == gold[k] for k in KEYS)

    lines = [
        "## 1. Undiarised calls",
        "",
        f"{len(calls)} calls (`calls_*.jsonl`). Domains: "
        + ", ".join(f"{d} {c}" for d, c in sorted(Counter(c['domain'] for c in calls).items()))
        + ".",
        "",
        "### Utterance roles",
        "",
        "| layout | utterances | role accuracy |",
        "|---|---:|---:|",
    ]
    for key in ("spaces", "commas", "lines", "none", "all"):
        if n[key]:
            lines.append(f"| {key} | {n[key]} | {ok[key] / n[key]:.4f} ({ok[key]}/{n[key]}) |")
    lines += [
        "",
        "An utterance counts as right when most of its characters got its gold role.",
        "",
        "### Call outcomes",
        "",
        f"Per call, whether phrasecheck's outcome agrees with the gold ({len(calls)} calls).",
        "",
        "| outcome | calls with it (gold) | agree, undiarised | agree, gold roles |",
        "|---|---:|---:|---:|",
    ]
    for k in (*KEYS, "all four"):
        with_it = str(gold_true[k]) if k in gold_true else ""
        lines.append(f"| {k} | {with_it} | {agree[k] / len(calls):.1%} ({agree[k]}) | "
                     f"{oracle[k] / len(calls):.1%} ({oracle[k]}) |")
    lines += ["", "Disagreements (undiarised):", ""]
    lines += [f"- {m}" for m in misses] or ["- none"]
    return lines


def _context_section(scorer: Any, items: Sequence[Mapping[str, Any]]) -> list[str]:
    got: dict[str, dict[str, str]] = {}
    events = Counter[str]()
    misses: list[str] = []
    threshold = float(scorer.policy.rule("apology_after_complaint").spec["trigger"]
                      ["threshold"])
    for item in items:
        conv = E.conversation(item)
        score = scorer.score(conv)
        got[item["id"]] = {rid: score.rule(rid).outcome for rid in E.RULES}
        facts, _ = scorer._facts(conv)
        found_c = {c.position for c in facts.complaints(threshold)}
        gold_c = {c["turn"] for c in item["gold"].get("complaints", [])}
        found_h = {h.position for h in facts.holds()}
        gold_h = {h["turn"] for h in item["gold"].get("holds", [])}
        for name, found, gold in (("complaint", found_c, gold_c), ("hold", found_h, gold_h)):
            events[f"{name} tp"] += len(found & gold)
            events[f"{name} fp"] += len(found - gold)
            events[f"{name} fn"] += len(gold - found)
        for rid in E.RULES:
            if got[item["id"]][rid] != item["gold"][rid]:
                misses.append(f"{item['id']} {rid}: gold {item['gold'][rid]}, phrasecheck "
                              f"{got[item['id']][rid]}")

    lines = [
        "## 2. Context rules, per conversation",
        "",
        f"{len(items)} conversations (`context_*.jsonl`; "
        f"{sum(t.get('start') is not None for i in items for t in i['turns'][:1])} with "
        "timestamps). Domains: "
        + ", ".join(f"{d} {c}" for d, c in sorted(
            Counter(i["metadata"]["domain"] for i in items).items()))
        + ". A defect is a `fail`; the shipped models and the default policy.",
        "",
        "| rule | gold defects | precision | recall | F1 | agreement (pass / fail / na) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    total = [0, 0, 0]
    for rid in E.RULES:
        pairs = [(item["gold"][rid], got[item["id"]][rid]) for item in items]
        tp, fp, fn = E.defect_counts(pairs)
        total = [total[0] + tp, total[1] + fp, total[2] + fn]
        p, r, f = E.prf(tp, fp, fn)
        agree = sum(g == q for g, q in pairs) / len(pairs)
        gold_fail = sum(g == "fail" for g, _ in pairs)
        lines.append(f"| {rid} | {gold_fail} | {p:.3f} | {r:.3f} | {f:.3f} | {agree:.3f} |")
    p, r, f = E.prf(*total)
    lines.append(f"| **all three** | {total[0] + total[2]} | {p:.3f} | {r:.3f} | **{f:.3f}** | |")
    lines += ["", "The events beneath the rules (a turn found against the gold turns):", "",
              "| event | gold | found right | precision | recall |", "|---|---:|---:|---:|---:|"]
    for name in ("complaint", "hold"):
        tp, fp, fn = events[f"{name} tp"], events[f"{name} fp"], events[f"{name} fn"]
        p, r, _ = E.prf(tp, fp, fn)
        lines.append(f"| {name} | {tp + fn} | {tp} | {p:.3f} | {r:.3f} |")
    lines += ["", "Rule disagreements:", ""]
    lines += [f"- {m}" for m in misses] or ["- none"]
    return lines


def main() -> int:
    import phrasecheck
    from phrasecheck import Analyzer

    calls = read_jsonl(sorted(HERE.glob("calls_*.jsonl")))
    context = read_jsonl(sorted(HERE.glob("context_*.jsonl")))
    scorer = Analyzer()  # the shipped tone, complaint and hold models, default policy
    lines = [
        "# Fresh test sets: the shipped models",
        "",
        f"Generated by `python corpora/fresh/measure.py` (do not edit by hand); "
        f"phrasecheck {phrasecheck.__version__}, {time.strftime('%Y-%m-%d')}.",
        "",
        "Written by hand after the models of 2026-12-03 (main `e455532`) were frozen, never "
        "trained on. Their one independent measurement is the first look, kept in "
        "[RESULTS_first_look.md](RESULTS_first_look.md); the lexicon's apologies were "
        "changed after it, in the light of what it showed, so the context-rule figures "
        "below are not independent (see README.md).",
        "",
    ]
    if calls:
        lines += [*_calls_section(scorer, calls), ""]
    if context:
        lines += [*_context_section(scorer, context), ""]
    OUT.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
