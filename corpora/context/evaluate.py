"""Regenerate corpora/context/EVAL.md (and the two shipped models) in one command.

    python corpora/context/evaluate.py                  # train, choose, evaluate, write
    python corpora/context/evaluate.py --no-write-model # evaluate without replacing models

What it does, in order:

1. splits corpora/context (whole conversations with gold complaint / hold events), corpora/calls
   (undiarised ASR calls with gold roles) and corpora/customer (single customer turns) into
   training items and the frozen held-out items (``corpora/splits.py``: a hash of the id, fixed
   before the corpora were complete);
2. chooses the complaint threshold of the ``apology_after_complaint`` rule by 5-fold
   cross-validation on the TRAINING items only (the highest defect F1; ties go to the higher
   threshold) and checks that the default policy uses it;
3. trains the complaint detector and the diarisation model on all training items and writes
   them to ``src/phrasecheck/models/{complaint,diarize}.json``;
4. measures, once, on the held-out items: the complaint detector per customer turn; the three
   context rules per conversation (gold pass / fail / na against phrasecheck's outcome; a
   defect is a ``fail``), beside the previous cue-only rules as a baseline; utterance roles of
   the undiarised calls; the calls' greeting / closing / rude / evasive outcomes (also with the
   gold roles, to separate diarisation errors from the rest); and the demo corpus gold;
5. writes EVAL.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

import models as M  # noqa: E402  (corpora/context/models.py)

MODELS = ROOT / "src" / "phrasecheck" / "models"
EVAL_OUT = HERE / "EVAL.md"
RULES = ("apology_after_complaint", "wait_before_hold", "thanks_after_hold")
THRESHOLDS = (0.4, 0.5, 0.6, 0.7, 0.8)
#: thresholds of the hold-announcement model tried by cross-validation (None: no model)
HOLD_THRESHOLDS = (None, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
HOLD_RULES = ("wait_before_hold", "thanks_after_hold")
CV_FOLDS = 5
#: decoding biases of the diarisation tagger tried by cross-validation on the training calls
CHANGE_BIASES = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)
#: decodings of the diarisation tagger tried by cross-validation (see DiarizeModel.decode)
DECODERS = ("viterbi", "posterior")
DIAR_FOLDS = 4
RUDE = {"rude", "arrogant", "profanity", "threat", "blame"}
EVASIVE = {"deflect", "stonewall", "refuse"}


# ------------------------------------------------------------------------------ helpers


def conversation(item: Mapping[str, Any]) -> Any:
    from phrasecheck.types import Conversation, Turn

    turns = tuple(Turn(i, t["role"], t["text"], t.get("start"), t.get("end"))
                  for i, t in enumerate(item["turns"]))
    return Conversation(str(item["id"]), turns, dict(item.get("metadata") or {}))


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def defect_counts(pairs: Sequence[tuple[str, str]]) -> tuple[int, int, int]:
    """(tp, fp, fn) of ``fail`` outcomes for (gold, predicted) pairs."""
    tp = sum(1 for g, p in pairs if g == "fail" and p == "fail")
    fp = sum(1 for g, p in pairs if g != "fail" and p == "fail")
    fn = sum(1 for g, p in pairs if g == "fail" and p != "fail")
    return tp, fp, fn


def verdicts_of(model: Any, analyzer: Any, item: Mapping[str, Any]) -> dict[int, Any]:
    """The complaint detector's verdict on every customer turn of a context item."""
    from phrasecheck.complaints import ComplaintVerdict

    idx = [i for i, t in enumerate(item["turns"]) if t["role"] == "customer"]
    probs = model.predict_proba(M.with_cue([item["turns"][i]["text"] for i in idx], analyzer))
    k = list(model.classes).index("complaint")
    return {i: ComplaintVerdict(p[k]) for i, p in zip(idx, probs, strict=True)}


def outcomes(analyzer: Any, item: Mapping[str, Any], verdicts: Mapping[int, Any],
             threshold: float | None = None) -> dict[str, str]:
    from phrasecheck.rules import evaluate_rule

    facts, _ = analyzer._facts(conversation(item), complaints=verdicts)
    out = {}
    for rid in RULES:
        rule = analyzer.policy.rule(rid)
        if threshold is not None and rid == "apology_after_complaint":
            trig = {**rule.spec["trigger"], "threshold": threshold}
            rule = dataclasses.replace(rule, spec={**rule.spec, "trigger": trig})
        out[rid] = evaluate_rule(rule, facts).outcome
    return out


def hold_outcomes(analyzer: Any, item: Mapping[str, Any], threshold: float | None
                  ) -> dict[str, str]:
    """The two hold rules' outcomes with ``analyzer``'s hold model at ``threshold`` (None:
    the lexicon's cues and the announcement patterns alone)."""
    from phrasecheck.rules import evaluate_rule

    conv = conversation(item)
    turns = conv.turns
    facts, _ = analyzer._facts(conv)
    facts = dataclasses.replace(
        facts, settings={**facts.settings, "hold_model_threshold": threshold},
        announce=lambda p: analyzer.announce_score(turns[p].text))
    return {rid: evaluate_rule(analyzer.policy.rule(rid), facts).outcome for rid in HOLD_RULES}


# ------------------------------------------------------------------------- baseline


def baseline_outcomes(item: Mapping[str, Any], analyzer: Any) -> dict[str, str]:
    """The rules as they were before issue 13: a complaint is a customer turn with a
    complaint cue; a hold is an agent turn with a hold cue, or a silence of 30 s before an
    agent turn (anchored at the agent's turn before it)."""
    conv = conversation(item)
    found = analyzer.turn_findings(conv)
    turns = conv.turns
    agents = [i for i, t in enumerate(turns) if t.role == "agent"]

    def cats(i: int) -> set[str]:
        return {f.category for f in found[i]}

    out: dict[str, str] = {}
    trig = [i for i, t in enumerate(turns) if t.role == "customer" and "complaint" in cats(i)]
    fails = [not any(cats(p) & {"apology", "empathy"} for p in [a for a in agents if a > i][:2])
             for i in trig if any(a > i for a in agents)]
    out["apology_after_complaint"] = "na" if not fails else ("fail" if any(fails) else "pass")
    holds: set[int] = {i for i in agents if "hold" in cats(i)}
    last = None
    for i, t in enumerate(turns):
        if t.role == "agent" and i > 0 and last is not None and t.start is not None:
            prev = turns[i - 1]
            end = prev.end if prev.end is not None else prev.start
            if end is not None and t.start - end >= 30:
                holds.add(last)
        if t.role == "agent":
            last = i
    wait, thanks = [], []
    for h in sorted(holds):
        k = agents.index(h)
        wait.append(any("wait" in cats(p) for p in agents[max(0, k - 1):k + 1]))
        if k + 1 < len(agents):
            thanks.append("wait_thanks" in cats(agents[k + 1]))
    out["wait_before_hold"] = "na" if not wait else ("pass" if all(wait) else "fail")
    out["thanks_after_hold"] = "na" if not thanks else ("pass" if all(thanks) else "fail")
    return out


# ---------------------------------------------------------------------------- calls


def char_roles(lines: Sequence[str], turns: Sequence[Any], size: int) -> list[str]:
    offsets, pos = [], 0
    for ln in lines:
        offsets.append(pos)
        pos += len(ln) + 1
    roles = [""] * size
    for t in turns:
        for k in range(offsets[t.chunk] + t.start, offsets[t.end_chunk] + t.end):
            roles[k] = t.role
    return roles


def utterance_accuracy(calls: Sequence[Mapping[str, Any]], model: Any
                       ) -> tuple[Counter[str], Counter[str]]:
    """Per layout: utterances whose characters mostly got the gold role, and all."""
    from phrasecheck.diarize import diarize

    ok: Counter[str] = Counter()
    n: Counter[str] = Counter()
    for call in calls:
        text, spans = M.layout_text(call)
        lines = text.split("\n")
        roles = char_roles(lines, diarize(lines, model), len(text))
        for (a, b), u in zip(spans, call["utterances"], strict=True):
            got = Counter(r for r in roles[a:b] if r).most_common(1)
            hit = bool(got) and got[0][0] == u["role"]
            for key in (call["layout"], "all"):
                ok[key] += hit
                n[key] += 1
    return ok, n


def call_outcome(score: Any) -> dict[str, bool]:
    cats = {f.category for f in score.findings if f.kind == "banned" and f.role == "agent"}
    return {
        "greeting": score.rule("greeting").passed is True,
        "closing": score.rule("closing").passed is True,
        "rude": score.rule("rude_reply").passed is False or bool(cats & RUDE),
        "evasive": score.rule("evasive_reply").passed is False or bool(cats & EVASIVE),
    }


def undiarised(call: Mapping[str, Any]) -> Any:
    """The call as phrasecheck reads its raw ASR text: every line a chunk without a role,
    diarised by the default diariser (``phrasecheck.diarize``)."""
    from phrasecheck.readers._common import Builder, Options, RawTurn, finish

    text, _ = M.layout_text(call)
    b = Builder(str(call["id"]))
    b.turns = [RawTurn("unknown", ln, line=i + 1) for i, ln in enumerate(text.split("\n"))
               if ln.strip()]
    return finish(b, f"{call['id']}.txt", "txt", Options.build())


def labelled(call: Mapping[str, Any]) -> Any:
    from phrasecheck.types import Conversation, Turn

    return Conversation(str(call["id"]), tuple(Turn(i, u["role"], u["text"])
                                               for i, u in enumerate(call["utterances"])))


# ------------------------------------------------------------------------------ main


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-write-model", action="store_true",
                    help="evaluate freshly trained models without replacing the shipped ones")
    ap.add_argument("--train-only", action="store_true",
                    help="train and write the models; measure nothing on the held-out items")
    args = ap.parse_args(argv)
    t0 = time.time()

    from phrasecheck import Analyzer, read_conversations
    from phrasecheck.classify import ToneModel, load_replies
    from phrasecheck.diarize import DiarizeModel

    calls = M.load_calls()
    context = M.load_context()
    customer = M.load_customer()
    calls_tr, calls_te = M.split(calls, "calls")
    ctx_tr, ctx_te = M.split(context, "context")
    cust_tr, cust_te = M.split(customer, "customer")
    replies = load_replies(ROOT / "corpora" / "replies")
    demo = [c for c in read_conversations(ROOT / "corpora" / "demo") if hasattr(c, "turns")]
    cues = Analyzer(model=None, complaint_model=None, hold_model=None)
    lines: list[str] = []
    say = lines.append

    # 2. the complaint threshold, by cross-validation on the training items
    folds_c = [i % CV_FOLDS for i in range(len(cust_tr))]
    folds_x = [i % CV_FOLDS for i in range(len(ctx_tr))]
    oof: dict[int, dict[int, Any]] = {}
    for k in range(CV_FOLDS):
        model = M.train_complaint([r for r, f in zip(cust_tr, folds_c) if f != k],
                                  [c for c, f in zip(ctx_tr, folds_x) if f != k], cues)
        for j, item in enumerate(ctx_tr):
            if folds_x[j] == k:
                oof[j] = verdicts_of(model, cues, item)
    sweep = []
    for th in THRESHOLDS:
        pairs = [(item["gold"]["apology_after_complaint"],
                  outcomes(cues, item, oof[j], th)["apology_after_complaint"])
                 for j, item in enumerate(ctx_tr)]
        sweep.append((th, *prf(*defect_counts(pairs)),
                      sum(g == p for g, p in pairs) / len(pairs)))
    chosen = max(sweep, key=lambda r: (round(r[3], 3), r[0]))[0]
    preset = float(cues.policy.rule("apology_after_complaint").spec["trigger"]["threshold"])

    # 2b. the hold model's threshold, by cross-validation on the training conversations: each
    # fold's conversations are judged by a hold model trained without them
    hold_pairs: dict[float | None, list[tuple[str, str]]] = {t: [] for t in HOLD_THRESHOLDS}
    for k in range(CV_FOLDS):
        fold_an = Analyzer(model=None, complaint_model=None,
                           hold_model=M.train_hold([c for c, f in zip(ctx_tr, folds_x)
                                                    if f != k]))
        for j, item in enumerate(ctx_tr):
            if folds_x[j] == k:
                for t in HOLD_THRESHOLDS:
                    got_h = hold_outcomes(fold_an, item, t)
                    hold_pairs[t] += [(item["gold"][rid], got_h[rid]) for rid in HOLD_RULES]
    hold_sweep = [(t, *prf(*defect_counts(pairs)),
                   sum(g == q for g, q in pairs) / len(pairs))
                  for t, pairs in hold_pairs.items()]
    hold_chosen = max(hold_sweep, key=lambda r: (round(r[3], 3), r[0] or 0.0))[0]
    hold_preset = cues.policy.settings.get("hold_model_threshold")

    # 3. train on all training items
    complaint = M.train_complaint(cust_tr, ctx_tr, cues)
    complaint_spec = complaint.to_dict()
    complaint_spec["training"].update({"customer_rows": len(cust_tr),
                                       "context_conversations": len(ctx_tr)})
    complaint = ToneModel(complaint_spec)
    # the tagger's change bias, by cross-validation on the training calls: each fold's calls
    # are tagged by a model trained without them, at every bias (decoding only, one training
    # per fold), with Viterbi and with posterior decoding; the most accurate setting wins,
    # ties to Viterbi and to the smaller bias
    bias_ok: Counter[tuple[str, float]] = Counter()
    bias_n = 0
    for k in range(DIAR_FOLDS):
        fold_spec = M.train_diarize([c for i, c in enumerate(calls_tr) if i % DIAR_FOLDS != k],
                                    ctx_tr, replies["text"].tolist(),
                                    [r["text"] for r in cust_tr], demo)
        inside = [c for i, c in enumerate(calls_tr) if i % DIAR_FOLDS == k]
        for dec in DECODERS:
            for b in CHANGE_BIASES:
                fold_spec["tagger"]["change_bias"] = b
                fold_spec["tagger"]["decode"] = dec
                got, tot = utterance_accuracy(inside, DiarizeModel(fold_spec))
                bias_ok[dec, b] += got["all"]
        bias_n += tot["all"]
    bias_sweep = [(dec, b, bias_ok[dec, b] / bias_n) for dec in DECODERS for b in CHANGE_BIASES]
    decode, change_bias, _ = max(bias_sweep, key=lambda r: (round(r[2], 4),
                                                            -DECODERS.index(r[0]), -r[1]))
    diar_spec = M.train_diarize(calls_tr, ctx_tr, replies["text"].tolist(),
                                [r["text"] for r in cust_tr], demo, change_bias=change_bias,
                                decode=decode)
    diarizer = DiarizeModel(diar_spec)
    hold = M.train_hold(ctx_tr)
    hold_spec = hold.to_dict()
    hold_spec["training"].update({"context_conversations": len(ctx_tr)})
    hold = ToneModel(hold_spec)
    if not args.no_write_model:
        hold.save(MODELS / "hold.json")
        from phrasecheck.classify.tables import write_tables

        complaint.save(MODELS / "complaint.json")  # the canonical JSON the tables check
        write_tables(MODELS / "complaint.json")  # ready-to-use lookup tables (cold start)
        MODELS.joinpath("diarize.json").write_text(
            json.dumps(diar_spec, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")

    if args.train_only:
        print(f"threshold sweep (training CV): {sweep}; chosen {chosen:g}, preset {preset:g}")
        print(f"decoding sweep (training CV): {bias_sweep}; chosen {decode} {change_bias:g}")
        print(f"hold model threshold sweep (training CV): {hold_sweep}; chosen {hold_chosen}, "
              f"preset {hold_preset}")
        print(f"models written in {time.time() - t0:.0f} s")
        return 0

    # 4a. the complaint detector per customer turn (held out)
    held_turns = [(r["text"], r["label"] == "complaint") for r in cust_te]
    for item in ctx_te:
        gold = {c["turn"] for c in item["gold"].get("complaints", [])}
        held_turns += [(t["text"], i in gold) for i, t in enumerate(item["turns"])
                       if t["role"] == "customer"]
    k_c = list(complaint.classes).index("complaint")
    probs = complaint.predict_proba(M.with_cue([t for t, _ in held_turns], cues))
    pred = [p[k_c] >= preset for p in probs]
    truth = [y for _, y in held_turns]
    cue_pred = [any(f.category == "complaint"
                    for f in cues.check_text(t, role="customer", classify=False, kinds=("cue",)))
                for t, _ in held_turns]

    def turn_row(name: str, pr: Sequence[bool]) -> str:
        tp = sum(a and b for a, b in zip(pr, truth))
        fp = sum(a and not b for a, b in zip(pr, truth))
        fn = sum(b and not a for a, b in zip(pr, truth))
        tn = len(truth) - tp - fp - fn
        p, r, f = prf(tp, fp, fn)
        pn, rn, fnn = prf(tn, fn, fp)
        return f"| {name} | {p:.3f} | {r:.3f} | {f:.3f} | {pn:.3f} | {rn:.3f} | {fnn:.3f} |"

    # 4b. the three context rules per conversation (held out)
    an = Analyzer(model=None, complaint_model=complaint, hold_model=hold)
    got = {item["id"]: outcomes(an, item, verdicts_of(complaint, cues, item))
           for item in ctx_te}
    base = {item["id"]: baseline_outcomes(item, cues) for item in ctx_te}

    def rule_rows(pred_of: Mapping[str, Mapping[str, str]]) -> tuple[list[str], float]:
        rows, total = [], [0, 0, 0]
        for rid in RULES:
            pairs = [(item["gold"][rid], pred_of[item["id"]][rid]) for item in ctx_te]
            tp, fp, fn = defect_counts(pairs)
            total = [total[0] + tp, total[1] + fp, total[2] + fn]
            p, r, f = prf(tp, fp, fn)
            agree = sum(g == q for g, q in pairs) / len(pairs)
            gold_fail = sum(g == "fail" for g, _ in pairs)
            rows.append(f"| {rid} | {gold_fail} | {p:.3f} | {r:.3f} | {f:.3f} | {agree:.3f} |")
        p, r, f = prf(*total)
        rows.append(f"| **all three** | {total[0] + total[2]} | {p:.3f} | {r:.3f} | **{f:.3f}** "
                    "| |")
        return rows, f

    new_rows, new_f1 = rule_rows(got)
    base_rows, _base_f1 = rule_rows(base)
    confusion = {rid: Counter((item["gold"][rid], got[item["id"]][rid]) for item in ctx_te)
                 for rid in RULES}

    # 4c. undiarised calls: roles and outcomes (held out)
    ok, n = utterance_accuracy(calls_te, diarizer)
    scorer = Analyzer(model="default", complaint_model=complaint, hold_model=hold)
    outcome_agree: Counter[str] = Counter()
    oracle_agree: Counter[str] = Counter()
    import phrasecheck.diarize as D

    D._default = diarizer  # score the calls with the model just trained
    for call in calls_te:
        mono = call_outcome(scorer.score(undiarised(call)))
        gold_roles = call_outcome(scorer.score(labelled(call)))
        for key in ("greeting", "closing", "rude", "evasive"):
            outcome_agree[key] += mono[key] == bool(call["gold"][key])
            oracle_agree[key] += gold_roles[key] == bool(call["gold"][key])
        outcome_agree["all four"] += all(mono[k] == bool(call["gold"][k])
                                         for k in ("greeting", "closing", "rude", "evasive"))
        oracle_agree["all four"] += all(gold_roles[k] == bool(call["gold"][k])
                                        for k in ("greeting", "closing", "rude", "evasive"))

    # 4d. the demo corpus gold (rule-based checks must all agree)
    import csv

    with open(ROOT / "corpora" / "demo" / "gold.csv", encoding="utf-8", newline="") as f:
        gold_rows = {r["conversation_id"]: r for r in csv.DictReader(f)}
    demo_scores = {s.id: s for s in scorer.score_many(demo)}
    demo_rules = ("greeting", "closing", "banned_phrases", *RULES)
    demo_agree = {rid: sum(demo_scores[cid].rule(rid).outcome == row[rid]
                           for cid, row in gold_rows.items()) for rid in demo_rules}

    # 5. EVAL.md
    import phrasecheck

    say("# Conversation judgement: evaluation (issue 13)")
    say("")
    say(f"Generated by `python corpora/context/evaluate.py` (do not edit by hand); phrasecheck "
        f"{phrasecheck.__version__}, {time.strftime('%Y-%m-%d')}.")
    say("")
    say("Data, all hand-written by the team (see each corpus's files):")
    say("")
    say("| corpus | items | training | **held out** (frozen, `corpora/splits.py`) |")
    say("|---|---:|---:|---:|")
    say(f"| `corpora/context` conversations with gold events | {len(context)} | {len(ctx_tr)} "
        f"| **{len(ctx_te)}** |")
    say(f"| `corpora/calls` undiarised ASR calls | {len(calls)} | {len(calls_tr)} | "
        f"**{len(calls_te)}** |")
    say(f"| `corpora/customer` customer turns | {len(customer)} | {len(cust_tr)} | "
        f"**{len(cust_te)}** |")
    say("")
    say("Held-out items were never used to train or to choose anything: not the models' "
        "features or parameters, not the threshold below, not the hold and complaint rules "
        "(those were developed against the training conversations only).")
    say("")
    say("How often the held-out split has been run: twenty times. On 2026-12-02 it gave "
        "a context-rule defect F1 of 0.871; the hold announcements were then widened using the "
        "training conversations only (commit 966346e: 18 disagreements with their gold to 0), "
        "and the second look gave 0.882 and a role accuracy of 0.866. On 2026-12-03 new "
        "hand-written items were added to every corpus (their held-out part is fresh), the "
        "diariser got a decoding bias chosen by cross-validation on the training calls, and "
        "the hold announcements were widened again from the new training conversations only. "
        "A third run (F1 0.880, role accuracy 0.900) measured two things this code no longer "
        "does: a wider hold pattern (我可以… and 这边去…找 counted as announcements; narrowed "
        "for the false holds they invite, e.g. the offer 我可以帮您办理, a decision made before "
        "that run's figures were read) and the complaint threshold 0.8, which section 1's "
        "rule replaced by 0.7. The fourth look (F1 0.871, role accuracy 0.8996) was followed by "
        "one change outside this issue: 300 agent questions were added to the reply corpus "
        "for the tone model, which also feeds the role model, and the shipped tone model "
        "decides the calls' rude / evasive outcomes; the fifth look measured that and nothing "
        "was changed after it. On a later day 18 conversations (context_d) and 480 customer "
        "turns (turns_c, turns_d) were written; their held-out part (7 conversations, 93 "
        "turns) is fresh. The hold announcements, acknowledgements and one empathy phrase "
        "were extended from the 11 new training conversations only, and the complaint "
        "detector was retrained with the new training turns (its threshold again by training "
        "cross-validation). The sixth look measured that with the complaint threshold of the "
        "policy then (0.7): context-rule F1 0.882, role accuracy 0.8854 (the diariser, "
        "retrained with the new customer turns, took a decoding bias of 1 instead of 3 on a "
        "cross-validation difference of 0.0015). Training cross-validation had chosen 0.8 "
        "(section 1), so the default policy was set to 0.8 as the rule says, and the seventh "
        "look measured that setting (context-rule F1 0.882; complaint turns F1 0.799 at 0.8). "
        "The demo corpus, which is not held out, then showed plain answers taken for "
        "complaints (没有，我一直租房。 at 0.82; a court visitor's case against a debtor at "
        "0.82), so 200 more customer turns were written (turns_e: 150 neutral turns with the "
        "negation and duration words complaints use, 50 complaints using the same words; 41 "
        "of them held out, fresh); the eighth look measured the detector retrained with them "
        "at the policy's 0.8 (context-rule F1 0.889, role accuracy 0.8925), while training "
        "cross-validation now chose 0.7 again: the two thresholds are within a few training "
        "conversations of each other, and the rule picks whichever is ahead. The default "
        "policy was set back to 0.7 as the rule says; the ninth look measured the shipped "
        "setting (context-rule F1 0.876, role accuracy 0.8925). On 2026-12-03 new items were "
        "written again: 42 conversations (context_e; 17 of them fall in the held-out split, "
        "fresh), 24 undiarised calls (calls_e; 10 held out) and 200 customer turns (turns_f; "
        "34 held out). On the 25 new training conversations the hold patterns found only half "
        "of the defective holds (announcements in words the patterns do not know: "
        "我进预约系统里翻翻, 我拍几张照片发过去问问), so a learned hold-announcement model was "
        "added, asked only where cues and patterns find nothing (section 1b chooses its "
        "threshold on the training conversations). The diariser's tagger got features of the "
        "neighbouring pieces' sound, chosen by 4-fold cross-validation on the training calls "
        "(0.887 against 0.878 on the 93 earlier training calls; 0.876 against 0.875 on the "
        "107 with the new ones). The tenth look measured that: context-rule F1 0.917 (target "
        "met), role accuracy 0.8958 (2,011 of 2,245). Then 48 more calls were written "
        "(calle-025 to calle-072; 21 of them held out, fresh), the tagger got the choice of "
        "posterior decoding (section 4, by cross-validation on the training calls), and the "
        "hold model was switched from character and word n-grams to characters alone: the "
        "same cross-validated F1 (0.952) at half the cost per turn; and, for the same speed "
        "target, the model is now asked only where the other side of the wait is firm (a "
        "silence, a return phrase, or the agent's next message with nothing from the "
        "customer): asking it after every customer 好的 cost 6 % of the batch's instructions "
        "for a cross-validated F1 of 0.952 against 0.933 (0.906 without the model). Its "
        "threshold again by section 1b's rule. The eleventh look measured that (context-rule "
        "F1 0.880, role accuracy 0.8945). Wall-clock timing then showed that asking the model "
        "after a customer 好的 too costs no measurable time with the character model (score_many "
        "of the 1,000-conversation bench corpus 1.519 s against 1.523 s, interleaved on one "
        "core; 4 % more instructions), so it is asked there again, as training "
        "cross-validation preferred. On 2026-12-03 new items were written once more: 48 "
        "undiarised calls (calls_f; 24 of them held out, fresh) and 30 conversations "
        "(context_f; 9 held out, fresh). The 21 new training conversations showed two rule "
        "gaps, fixed from them alone: an announcement followed, after an acknowledgement, by "
        "the agent announcing the task itself (我得确认一下 … 好 … 我去问一下我们科长) is one "
        "hold, at the task; asking another team (我再找物流组对一下) is an announcement; and "
        "您先别挂 counts as a please-wait phrase. The twelfth look measured that with the "
        "policy's complaint threshold of 0.7 (context-rule F1 0.917, target met; role "
        "accuracy 0.8849 on 142 held-out calls, the new ones harder than the earlier). Two "
        "things then had to change by rules fixed before: training cross-validation now chose "
        "the complaint threshold 0.6 (section 1: F1 0.918 against 0.915), so the default "
        "policy was set to 0.6; and the demo corpus, which must agree on its rule-based "
        "checks, showed a false hold (就在大厅那边，您过去问问。 … 好吧。 … 再见。: the model "
        "at 0.11, a farewell taken for the return), so a turn that only takes leave no longer "
        "confirms a model's announcement (training cross-validation unchanged, 0.944). The "
        "thirteenth look measured that (context-rule F1 0.913, role accuracy 0.8849). The "
        "speed benchmark then put batch scoring at 1.94-2.03x bare jieba (target 2x), the "
        "hold model costing about 3 % of the time; so the complaint detector, which ran jieba "
        "over every customer turn for its word features, was trained on characters alone: "
        "the same cross-validated quality on the training items (section 1; apology F1 0.925 "
        "at 0.7 against 0.918 at 0.6) for 6 % less time. Its threshold again by section 1's "
        "rule. The hold model is asked only about agent turns that speak of the agent, of "
        "waiting or of finding out (all 215 training hold turns do; cross-validation "
        "unchanged). The fourteenth look measured that at the complaint threshold 0.7, which "
        "a shorter sweep had suggested (context-rule F1 0.931, role accuracy 0.8849); section "
        "1's rule, whose sweep goes to 0.8, chose 0.8 (F1 0.933 against 0.925), so the "
        "default policy was set to 0.8. The fifteenth look measured that (context-rule F1 "
        "0.935, role accuracy 0.8849). A matcher bug noted two sessions before (on a training "
        "call) was then fixed: a pause of ASR text is a token boundary although folding drops "
        "it (好的 四 烧等一下 had no wait phrase; training cross-validation of the hold rules "
        "0.944 -> 0.950). The sixteenth look measured that fix (held-out figures unchanged: "
        "context-rule F1 0.935, role accuracy 0.8849, short of its 0.90). The diariser was "
        "then rebuilt with every choice made by 4-fold cross-validation on the training calls "
        "(section 4's folds; utterance role accuracy 0.8718 as shipped): its tagger marks "
        "where each speaker's stretch ends as well as where it begins (BIES labels, changes "
        "that skip a stretch end ruled out), reads how densely the engine cut the call, and "
        "learns from every training call rendered again in every layout style (0.8846 "
        "together), with CRF regularisation c1/c2 0.05/0.02 (0.8861; three other settings "
        "0.8846-0.8854). Two further feature sets (the role contrast at the gap after a piece; "
        "crossings of a piece's end with the next piece's start) gave 0.8861 and 0.8864 and "
        "were not shipped. The seventeenth look measured the rebuilt diariser (context-rule F1 "
        "0.935, role accuracy 0.9011). Then the fresh test sets of corpora/fresh, written "
        "after the models were frozen and measured once with them, showed context-rule "
        "defect F1 0.683 (precision 0.519, recall 1.000): the complaint detector alarmed on "
        "praise that mentions another company's slowness, on a customer saying the staff are "
        "busy, and on anger at third parties; and agents who owned a failure without a stock "
        "apology (这事确实是我们没做好) were taken for not apologising. Owning a failure "
        "(是我们没做好, 是我们这边的失误 …, with 不是我们没做好 … allowed) was added to the "
        "lexicon's apology phrase APO-012. 240 hard customer turns were also written (praise, "
        "third-party anger, progress questions, neutral turns with 你们; complaints without "
        "stock words) and the detector retrained with them: training cross-validation at the "
        "chosen 0.8 fell from F1 0.933 to 0.920 (recall 0.894 to 0.851) and the demo corpus's "
        "learned-trigger agreement from 58 to 56 of 66, below the 0.85 its test requires. "
        "The eighteenth look measured that combination (context-rule F1 0.935, role accuracy "
        "0.9014, the diariser's role model having learned from the new turns too); it was not "
        "shipped, and the turns were not kept in corpora/customer. These changes were chosen "
        "after the fresh sets' first look, so the fresh figures after them are no longer "
        "independent. The nineteenth look measured the lexicon change alone (every held-out "
        "figure unchanged). This run, the twentieth, repeats it after a refactor of this "
        "script that moves no figure (the undiarised calls built by one helper, which "
        "corpora/fresh/measure.py shares); nothing was chosen on the held-out split. Treat the "
        "figures as slightly optimistic for the repeated looks.")
    say("")
    say("## 1. Complaint threshold (training items, 5-fold cross-validation)")
    say("")
    say("`apology_after_complaint` on the training conversations, with each conversation's "
        "complaint verdicts from a detector that did not see it. A defect is a gold `fail`.")
    say("")
    say("| threshold | defect precision | defect recall | defect F1 | agreement |")
    say("|---:|---:|---:|---:|---:|")
    for th, p, r, f, a in sweep:
        mark = " **(chosen)**" if th == chosen else ""
        say(f"| {th:g}{mark} | {p:.3f} | {r:.3f} | {f:.3f} | {a:.3f} |")
    say("")
    say(f"Chosen: **{chosen:g}** (highest F1; ties to the higher threshold). The default "
        f"policy uses {preset:g}" + ("." if preset == chosen else
                                     " — **it differs: update presets/default.yaml**."))
    say("")
    say("### 1b. Hold-announcement model threshold (training items, 5-fold cross-validation)")
    say("")
    say("`wait_before_hold` and `thanks_after_hold` together on the training conversations, "
        "each conversation judged with a hold-announcement model (agent turns, character "
        "n-grams, logistic regression) that did not see it. The model is asked only about "
        "agent turns in which the lexicon's hold cues and the announcement patterns find "
        "nothing and which speak of the agent, of waiting or of finding out, and only where "
        "the other side of the wait is there (a silence, a return "
        "phrase, or the agent's next turn with nothing but acknowledgements from the customer "
        "in between, that turn neither announcing the task itself nor only taking leave). "
        "`off`: cues and patterns alone.")
    say("")
    say("| threshold | defect precision | defect recall | defect F1 | agreement |")
    say("|---:|---:|---:|---:|---:|")
    for th, p, r, f, a in hold_sweep:
        mark = " **(chosen)**" if th == hold_chosen else ""
        say(f"| {'off' if th is None else f'{th:g}'}{mark} | {p:.3f} | {r:.3f} | {f:.3f} "
            f"| {a:.3f} |")
    say("")
    say(f"Chosen: **{hold_chosen}** (highest F1; ties to the higher threshold). The default "
        f"policy uses {hold_preset}" + ("." if hold_preset == hold_chosen else
                                        " — **it differs: update presets/default.yaml**."))
    say("")
    say("## 2. Complaint detector, per customer turn (held out)")
    say("")
    say(f"{len(held_turns)} held-out customer turns ({sum(truth)} complaints): the held-out "
        "rows of `corpora/customer` and the customer turns of the held-out conversations. "
        f"Detector at P >= {preset:g}; the cue list alone for comparison.")
    say("")
    say("| detector | complaint P | complaint R | complaint F1 | none P | none R | none F1 |")
    say("|---|---:|---:|---:|---:|---:|---:|")
    say(turn_row(f"learned detector (P >= {preset:g})", pred))
    say(turn_row("complaint cues alone (lexicon)", cue_pred))
    say("")
    say("## 3. Context rules, per conversation (held out)")
    say("")
    say(f"{len(ctx_te)} held-out conversations. For each rule, phrasecheck's outcome against "
        "the gold outcome; a defect is `fail`. Target: defect F1 >= 0.90 over the three rules "
        "together.")
    say("")
    say("| rule | gold defects | defect precision | defect recall | defect F1 | agreement "
        "(pass/fail/na) |")
    say("|---|---:|---:|---:|---:|---:|")
    lines.extend(new_rows)
    say("")
    say(f"Target defect F1 >= 0.90: **{'met' if new_f1 >= 0.9 else 'missed'}** "
        f"({new_f1:.3f}).")
    say("")
    say("Confusion (gold → phrasecheck):")
    say("")
    say("| rule | " + " | ".join(f"{g}→{p}" for g in ("pass", "fail", "na")
                                  for p in ("pass", "fail", "na")) + " |")
    say("|---|" + "---:|" * 9)
    for rid in RULES:
        say(f"| {rid} | " + " | ".join(str(confusion[rid][(g, p)])
                                       for g in ("pass", "fail", "na")
                                       for p in ("pass", "fail", "na")) + " |")
    say("")
    say("Baseline: the same held-out conversations under the rules as they were before "
        "(complaint = a complaint cue; hold = a hold cue or 30 s of silence before an agent "
        "turn):")
    say("")
    say("| rule | gold defects | defect precision | defect recall | defect F1 | agreement |")
    say("|---|---:|---:|---:|---:|---:|")
    lines.extend(base_rows)
    say("")
    say("## 4. Undiarised calls (held out)")
    say("")
    say(f"{len(calls_te)} held-out calls, read as an ASR engine returns them (no speaker "
        "labels; `corpora/calls/txt`). An utterance counts as right when most of its "
        "characters land in a turn of its gold role. Target: >= 0.90.")
    say("")
    say(f"The tagger's decoding bias towards speaker changes (`change_bias`, added to every "
        f"stretch start) and its decoding (Viterbi: the likeliest label sequence; posterior: "
        f"each piece's likeliest role) were chosen by {DIAR_FOLDS}-fold cross-validation on "
        f"the {len(calls_tr)} training calls (utterance role accuracy; the held-out calls play "
        "no part):")
    say("")
    say("| change bias | training CV role accuracy, Viterbi | … posterior |")
    say("|---:|---:|---:|")
    acc = {(dec, b): a for dec, b, a in bias_sweep}
    for b in CHANGE_BIASES:
        cells = [f"{acc[dec, b]:.4f}" + (" **(chosen)**" if (dec, b) == (decode, change_bias)
                                         else "") for dec in DECODERS]
        say(f"| {b:g} | {' | '.join(cells)} |")
    say("")
    say("| layout | utterances | role accuracy |")
    say("|---|---:|---:|")
    for key in ("spaces", "commas", "lines", "none", "all"):
        if n[key]:
            label = "**all**" if key == "all" else key
            say(f"| {label} | {n[key]} | {ok[key] / n[key]:.3f} |")
    acc = ok["all"] / n["all"] if n["all"] else 0.0
    say("")
    say(f"Target role accuracy >= 0.90: **{'met' if acc >= 0.9 else 'missed'}** "
        f"({ok['all']} of {n['all']} utterances = {acc:.4f}).")
    say("")
    say("Call outcomes against the gold, with the default policy and the shipped reply-tone "
        "model: greeting and closing are the rules' outcomes, rude / evasive mean a tone "
        "finding or a banned phrase of that kind by the agent. `gold roles` scores the same "
        "utterances with their true speakers: the gap between the columns is what diarisation "
        "costs. Target: >= 90% of calls agree.")
    say("")
    say("| outcome | undiarised (inferred roles) | gold roles |")
    say("|---|---:|---:|")
    for key in ("greeting", "closing", "rude", "evasive", "all four"):
        say(f"| {key} | {outcome_agree[key] / len(calls_te):.1%} | "
            f"{oracle_agree[key] / len(calls_te):.1%} |")
    say("")
    say("## 5. Demo corpus gold (rule-based checks, all 66 conversations)")
    say("")
    say("| rule | agreement |")
    say("|---|---:|")
    for rid in demo_rules:
        say(f"| {rid} | {demo_agree[rid]}/{len(gold_rows)} |")
    say("")
    say(f"Run time {time.time() - t0:.0f} s.")
    EVAL_OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
