"""Regenerate corpora/replies/EVAL.md (and the shipped tone model) in one command.

    python corpora/replies/evaluate.py                       # choose, train, evaluate, write
    python corpora/replies/evaluate.py --no-write-model
    python corpora/replies/evaluate.py --dialogues /work/ext/multiwoz_zh   # + section 6
    python corpora/replies/evaluate.py --dev-only        # sections 1-3 only (no held-out)

The tone model reads one agent reply and says ``ok``, ``rude`` or ``evasive``; an evasive reply
is either a buck-pass (``deflect``, 推诿) or a stonewall (``stonewall``, 搪塞). What a QA lead
meets is judged here: conversations, not replies, at the real (small) share of bad replies,
on data nobody tuned on. In order:

1. the training rows (every ``replies_*.csv`` row not in the frozen ``test_ids.txt``) choose
   the model's parameters by 5-fold cross-validation (macro-F1 over ok / rude / deflect /
   stonewall); the chosen model is trained on all training rows with temperature scaling;
2. the operating point is chosen on development data only, by a rule stated before it was
   run (section 3): out-of-fold predictions on the training rows give recall and false flags
   on responsible referrals; the CrossWOZ val + test dialogues (``../shared/datasets``,
   third-party, measurement only) give the share of clean dialogues flagged;
3. measured once, on data that played no part: the frozen test split, the held-out ASR-style
   set ``asr_heldout.csv``, whole clean dialogues of another corpus (MultiWOZ-zh, read from
   outside the repository with ``--dialogues``), COLD's personal attacks; with the banned
   lexicon alone as a baseline;
4. writes EVAL.md and, unless ``--no-write-model``, ``src/phrasecheck/models/tone.json`` and
   its lookup tables.

Every decision is what ``Analyzer.check_text(reply, context=customer_turn)`` reports: a banned
phrase, or a tone label whose probability at the deployment prior reaches the threshold —
except a reply of at most four characters of content, which is reported only when it answers a
complaint (:mod:`phrasecheck.tone`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
# ../shared/datasets beside the checkout (or beside its parent, for a git worktree)
DATASETS = next((p / "shared" / "datasets" for p in (ROOT.parent, ROOT.parent.parent)
                 if (p / "shared" / "datasets").is_dir()), ROOT.parent / "shared" / "datasets")
MODEL_OUT = ROOT / "src" / "phrasecheck" / "models" / "tone.json"
EVAL_OUT = HERE / "EVAL.md"
ASR_HELDOUT = HERE / "asr_heldout.csv"
SEED = 0
FINE = ("ok", "rude", "deflect", "stonewall")
GRID: list[dict[str, Any]] = [
    {"features": "char+word", "word_ngram_range": (1, 2), "C": c, "unigram_weight": 1.0}
    for c in (3.0, 10.0)]
UNIGRAM_WEIGHTS = (1.0, 0.5, 0.25)
THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
# the operating-point rule (section 3): the lowest threshold whose development figures meet
# both; the margins under the targets (3% and 5%) allow for the optimism of choosing on them
DEV_DIALOGUES_MAX = 0.025
DEV_REFERRALS_MAX = 0.045
RUDE = {"rude", "arrogant", "profanity", "threat", "blame"}
EVASIVE = {"deflect", "stonewall", "refuse"}

sys.path.insert(0, str(HERE))


def log(*a: Any) -> None:
    print(*a, flush=True)


# ------------------------------------------------------------------------- decisions


class Decider:
    """What check_text(text, context=...) reports, from probabilities already computed: a
    banned phrase, or a tone label over the threshold (short replies only after a complaint).
    Banned findings and complaint verdicts are computed once per text."""

    def __init__(self, analyzer: Any) -> None:
        self.analyzer = analyzer
        self._banned: dict[str, set[str]] = {}
        self._complaint: dict[str, bool] = {}

    def banned(self, text: str) -> set[str]:
        got = self._banned.get(text)
        if got is None:
            got = self._banned[text] = {
                f.category for f in self.analyzer.check_text(text, classify=False)
                if f.kind == "banned"}
        return got

    def complaint(self, text: str) -> bool:
        got = self._complaint.get(text)
        if got is None:
            got = self._complaint[text] = self.analyzer._complaint_or_cue(text)
        return got

    def tone_flag(self, tone: Any, text: str, context: str | None, threshold: float
                  ) -> str | None:
        """The sub-category reported (rude / deflect / stonewall), or None."""
        from phrasecheck.tone import decide

        for label in ("rude", "evasive"):
            d = decide(tone, label, threshold, text,
                       (lambda: self.complaint(context)) if context else None)
            if d.flagged:
                return d.subcategory or label
        return None

    def flag(self, tone: Any, text: str, context: str | None, threshold: float) -> bool:
        return bool(self.banned(text)) or self.tone_flag(tone, text, context, threshold) is not None


def at_prior(probs: Sequence[Sequence[float]], classes: Sequence[str],
             train: Mapping[str, float], deploy: Mapping[str, float],
             groups: Mapping[str, Sequence[str]]) -> list[Any]:
    """ToneResults at the deployment prior from probabilities at the training mix."""
    from phrasecheck.types import ToneResult

    out = []
    ratio = [deploy[c] / train[c] for c in classes]
    labels = ("ok", "rude", "evasive")
    for row in probs:
        q = [p * r for p, r in zip(row, ratio, strict=True)]
        z = sum(q)
        q = [v / z for v in q]
        fine = dict(zip(classes, q, strict=True))
        public = {lb: sum(fine[c] for c in groups.get(lb, (lb,))) for lb in labels}
        label = max(labels, key=lambda lb: public[lb])
        sub = None if label == "ok" else max(groups.get(label, (label,)), key=fine.__getitem__)
        out.append(ToneResult(label, public, (), sub, fine, None))
    return out


# ---------------------------------------------------------------------------- data


def fine_of(df: pd.DataFrame) -> list[str]:
    from phrasecheck.classify.corpus import fine_labels

    return fine_labels(df)


def read_asr() -> pd.DataFrame | None:
    if not ASR_HELDOUT.is_file():
        return None
    return pd.read_csv(ASR_HELDOUT, dtype=str, keep_default_na=False, encoding="utf-8")


def crosswoz_dialogues() -> list[tuple[str, list[tuple[str, str]]]] | None:
    files = sorted((DATASETS / "CrossWOZ").glob("*_turns.jsonl"))
    if not files:
        return None
    out = []
    for f in files:
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip():
                d = json.loads(line)
                out.append((f"{f.stem}:{d['id']}",
                            [(str(t.get("role")), str(t.get("text", "")).strip())
                             for t in d["turns"] if str(t.get("text", "")).strip()]))
    return out


def cold_attacks() -> list[str] | None:
    path = DATASETS / "COLD" / "test.csv"
    if not path.is_file():
        return None
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    return df.loc[df["fine-grained-label"] == "1", "TEXT"].tolist()


# ------------------------------------------------------------------- cross-validation


def cv_probs(df: pd.DataFrame, y: Sequence[str], params: Mapping[str, Any]
             ) -> tuple[list[list[float]], list[str]]:
    """5-fold out-of-fold probabilities (training mix) for every row, folds stratified by
    fine label x domain."""
    from sklearn.model_selection import StratifiedKFold

    from phrasecheck.classify import ToneClassifier

    probs: list[list[float]] = [[] for _ in range(len(df))]
    classes: list[str] = []
    strata = [f"{a}/{b}" for a, b in zip(y, df["domain"], strict=True)]
    texts = df["text"].tolist()
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=SEED).split(texts, strata):
        est = ToneClassifier(random_state=SEED, **params).fit([texts[i] for i in tr],
                                                              [y[i] for i in tr])
        classes = [str(c) for c in est.classes_]
        for i, row in zip(te, est.predict_proba([texts[i] for i in te]), strict=True):
            probs[i] = [float(v) for v in row]
    return probs, classes


def macro_f1(y: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> float:
    return statistics.fmean(f for _, _, _, f, _ in per_class(y, pred, labels))


def per_class(y: Sequence[str], pred: Sequence[str], labels: Sequence[str]
              ) -> list[tuple[str, float, float, float, int]]:
    """(label, precision, recall, F1, support) per label (scikit-learn's figures; 0 where a
    ratio has nothing to divide by)."""
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, n = precision_recall_fscore_support(list(y), list(pred), labels=list(labels),
                                                 zero_division=0)
    return [(c, float(a), float(b), float(d), int(e))
            for c, a, b, d, e in zip(labels, p, r, f, n, strict=True)]


# ----------------------------------------------------------------------- reporting


def flag_rates(decider: Decider, tones: Sequence[Any], df: pd.DataFrame, threshold: float
               ) -> dict[str, float]:
    """Share of rows flagged (banned phrase or tone) per group: sub-category (rude, deflect,
    stonewall), all rude+evasive, ok, referral."""
    flags = [decider.flag(t, txt, ctx or None, threshold)
             for t, txt, ctx in zip(tones, df["text"], df["context"], strict=True)]
    sub = df["sub"].tolist()
    label = df["label"].tolist()

    def share(sel: Callable[[int], bool]) -> float:
        idx = [i for i in range(len(df)) if sel(i)]
        return sum(flags[i] for i in idx) / len(idx) if idx else float("nan")

    return {"rude": share(lambda i: label[i] == "rude"),
            "deflect": share(lambda i: sub[i] == "deflect"),
            "stonewall": share(lambda i: sub[i] == "stonewall"),
            "bad": share(lambda i: label[i] != "ok"),
            "ok": share(lambda i: label[i] == "ok" and sub[i] != "referral"),
            "referral": share(lambda i: sub[i] == "referral")}


def dialogue_flags(decider: Decider, model: Any,
                   dialogues: Sequence[tuple[str, Sequence[tuple[str, str]]]],
                   thresholds: Sequence[float]) -> dict[float, list[str]]:
    """For each threshold, the ids of dialogues with at least one banned or tone finding on
    an agent turn (each judged with the customer turn before it)."""
    agent = [(did, i, text, next((t for r, t in reversed(turns[:i]) if r == "customer"), None))
             for did, turns in dialogues for i, (role, text) in enumerate(turns)
             if role == "agent"]
    tones = model.predict([a[2] for a in agent], explain=0)
    out: dict[float, list[str]] = {}
    for th in thresholds:
        flagged = {did for (did, _, text, ctx), tone in zip(agent, tones, strict=True)
                   if decider.flag(tone, text, ctx, th)}
        out[th] = sorted(flagged)
    return out


def pct(x: float) -> str:
    return "n/a" if x != x else f"{100 * x:.1f}%"


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="regenerate corpora/replies/EVAL.md")
    ap.add_argument("--no-write-model", action="store_true")
    ap.add_argument("--dialogues", type=Path, metavar="DIR",
                    help="folder with MultiWOZ-zh's human_val.json.zip and test.json.zip "
                         "(see fresh_dialogues.py for how to get them): section 6")
    ap.add_argument("-o", "--output", type=Path, default=EVAL_OUT)
    ap.add_argument("--skip-search", metavar="JSON",
                    help="use these parameters (e.g. '{\"C\": 10, \"unigram_weight\": 1}') "
                         "instead of the cross-validated search of section 1")
    ap.add_argument("--dev-only", action="store_true",
                    help="stop after section 3 (choices on development data); measure "
                         "nothing held out and write nothing")
    args = ap.parse_args(argv)
    t_start = time.time()

    import sklearn

    from phrasecheck import Analyzer, __version__
    from phrasecheck.classify import ToneClassifier, data_sha256, load_replies
    from phrasecheck.classify.model import DEFAULT_DEPLOY_PRIOR

    df = load_replies(HERE)
    test_ids = set((HERE / "test_ids.txt").read_text(encoding="utf-8").split())
    is_test = df["id"].isin(test_ids)
    train = df[~is_test].reset_index(drop=True)
    test = df[is_test].reset_index(drop=True)
    y_train, y_test = fine_of(train), fine_of(test)
    log(f"corpus {len(df)}: train {len(train)}, test {len(test)}")
    md: list[str] = []
    w = md.append
    counts = Counter(fine_of(df))
    w("# Reply-tone model: evaluation")
    w("")
    w("Generated by `python corpora/replies/evaluate.py --dialogues DIR` (do not edit by "
      f"hand); phrasecheck {__version__}, scikit-learn {sklearn.__version__}.")
    w("")
    w(f"Corpus: {len(df)} hand-written agent replies in {df['domain'].nunique()} domains — "
      + ", ".join(f"{c} {counts[c]}" for c in FINE)
      + f" (of the ok rows, {int((df['sub'] == 'referral').sum())} are responsible "
      "referrals); data SHA-256 "
      f"{data_sha256(df['text'].tolist(), fine_of(df))[:16]}…. The frozen test split "
      f"(`test_ids.txt`, 20%, made once and extended file by file) holds {len(test)} rows; the "
      f"other {len(train)} are the training rows. `asr_heldout.csv` (ASR-style phone replies, "
      "written for this evaluation) is held out entirely.")
    w("")
    w("Labels: `ok`, `rude`, `evasive`; an evasive reply is a **deflect** (推诿: pushed "
      "elsewhere without handover or complete information, against 首问负责制) or a "
      "**stonewall** (搪塞: nothing to go on). The model is trained on the four classes ok / "
      "rude / deflect / stonewall and answers with the three public labels plus the "
      "sub-category.")
    w("")

    # ---------------------------------------------------------- 1. model selection
    w("## 1. Model selection (training rows, 5-fold cross-validation)")
    w("")
    w("Macro-F1 over ok / rude / deflect / stonewall, arg-max at the training mix, calibration "
      "off while searching, all n-grams weighted alike. The best C is kept; the unigram "
      "weight is chosen with the operating point (section 3). The test split plays no part.")
    w("")
    w("| C | cv5 macro-F1 |")
    w("|---:|---:|")
    best: tuple[float, dict[str, Any]] | None = None
    if args.skip_search:
        best = (float("nan"), {**GRID[0], **json.loads(args.skip_search)})
        w("| (search skipped: `--skip-search`) | |")
    for cfg in GRID if not args.skip_search else []:
        params = {**cfg, "calibration": "none"}
        probs, classes = cv_probs(train, y_train, params)
        pred = [classes[max(range(len(p)), key=p.__getitem__)] for p in probs]
        f1 = macro_f1(y_train, pred, FINE)
        log(f"  {cfg}: {f1:.4f}")
        w(f"| {cfg['C']:g} | {f1:.4f} |")
        if best is None or f1 > best[0]:
            best = (f1, cfg)
    assert best is not None
    base = {**best[1], "calibration": "temperature"}
    w("")
    w(f"Chosen: `C={base['C']:g}` (character 1–3-grams and jieba word 1–2-grams, logistic "
      "regression, temperature scaling).")
    w("")
    from phrasecheck.classify.estimator import deploy_shares

    groups = {"evasive": ("deflect", "stonewall")}
    cues = Analyzer(model=None)
    decider = Decider(cues)
    cw = crosswoz_dialogues()

    # ------------- per unigram weight: out-of-fold probabilities, final model, curve
    candidates = []
    for uw in UNIGRAM_WEIGHTS:
        params = {**base, "unigram_weight": uw}
        log(f"unigram weight {uw}: out-of-fold probabilities …")
        oof, classes = cv_probs(train, y_train, params)
        train_share = {c: y_train.count(c) / len(y_train) for c in classes}
        deploy = deploy_shares(DEFAULT_DEPLOY_PRIOR, classes, groups, train_share)
        oof_tones = at_prior(oof, classes, train_share, deploy, groups)
        est = ToneClassifier(random_state=SEED, **params).fit(train["text"].tolist(), y_train)
        model = est.to_model({
            "sklearn_version": sklearn.__version__,
            "training": {"data_sha256": data_sha256(train["text"].tolist(), y_train),
                         "n_rows": len(train),
                         "label_counts": dict(sorted(Counter(y_train).items())), "seed": SEED,
                         "params": {k: (list(v) if isinstance(v, tuple) else v)
                                    for k, v in est.get_params().items()}}})
        dev_flags = dialogue_flags(decider, model, cw, THRESHOLDS) if cw else None
        curve = []
        for th in THRESHOLDS:
            r = flag_rates(decider, oof_tones, train, th)
            dev = len(dev_flags[th]) / len(cw) if dev_flags and cw else float("nan")
            curve.append((th, r, dev))
        candidates.append((uw, oof, classes, train_share, oof_tones, model, dev_flags, curve))

    # ------------------------------------------------------ 2. deployment prior
    w("## 2. Decisions at the deployed base rate")
    w("")
    w("The training corpus is about half rude or evasive; real agent replies are "
      "overwhelmingly fine. The model's probabilities are shifted to a stated deployment "
      "prior — " + ", ".join(f"{k} {v:.0%}" for k, v in DEFAULT_DEPLOY_PRIOR.items())
      + " (evasive split between deflect and stonewall as in the training rows) — by adding "
      "log(π_deploy / π_train) / β to each class's intercept (exact for the temperature-scaled "
      "softmax). `ToneResult.label` is the arg-max at that prior; `balanced_label` keeps the "
      "arg-max at the training mix. A team sets its own prior with the policy setting "
      "`tone_prior: {ok: …, rude: …, evasive: …}` or `ToneModel.with_prior(...)`.")
    w("")
    w("| labels on the training rows (out of fold, unigram weight 1) | ok rows labelled "
      "rude/evasive | rude/evasive rows labelled rude/evasive |")
    w("|---|---:|---:|")
    _, oof1, classes1, share1, tones1, _, _, _ = candidates[0]
    raw1 = at_prior(oof1, classes1, share1, share1, groups)
    ok_rows = [i for i, c in enumerate(y_train) if c == "ok"]
    bad_rows = [i for i, c in enumerate(y_train) if c != "ok"]
    for name, tones in (("arg-max at the training mix (`balanced_label`)", raw1),
                        ("arg-max at the deployment prior (`label`)", tones1)):
        fp = sum(tones[i].label != "ok" for i in ok_rows) / len(ok_rows)
        tp = sum(tones[i].label != "ok" for i in bad_rows) / len(bad_rows)
        w(f"| {name} | {pct(fp)} | {pct(tp)} |")
    w("")

    # ---------------------------------------------- 3. operating point (development)
    feasible = [(r["bad"], uw, th) for uw, *_, curve in candidates for th, r, dev in curve
                if dev <= DEV_DIALOGUES_MAX and r["referral"] <= DEV_REFERRALS_MAX]
    if feasible:  # most recall; ties: the larger weight, then the lower threshold
        _, uw_best, threshold = max(feasible, key=lambda x: (round(x[0], 4), x[1], -x[2]))
    else:
        _, uw_best, threshold = min(((dev, uw, th) for uw, *_, curve in candidates
                                     for th, r, dev in curve), key=lambda x: (x[0], -x[2]))
    chosen_c = next(c for c in candidates if c[0] == uw_best)
    _, oof, classes, train_share, oof_tones, model, dev_flags, _ = chosen_c
    w("## 3. Operating point (development data only)")
    w("")
    w("Every figure is the full decision (banned phrase, or tone probability at the "
      "deployment prior over the threshold; a reply of at most four characters only after a "
      "complaint). Recall and false flags: out-of-fold on the training rows (a reply with a "
      "`context` column is judged with it). Clean dialogues: the share of CrossWOZ val + test "
      f"dialogues ({len(cw) if cw else 0}, third-party; a development set here and in "
      "earlier sessions) with at least one finding on an agent turn. The unigram weight "
      "multiplies single characters' and words' TF-IDF values (a stronger penalty on "
      "them): tone lives in phrases, and single 去 / 都 / 你 are shared with ordinary talk.")
    w("")
    w("| unigram weight | threshold | rude+evasive flagged | rude | deflect | stonewall | "
      "referrals flagged | other ok flagged | CrossWOZ dialogues flagged |")
    w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for uw, *_, curve in candidates:
        for th, r, dev in curve:
            mark = " **(chosen)**" if (uw, th) == (uw_best, threshold) else ""
            w(f"| {uw:g} | {th:g}{mark} | {pct(r['bad'])} | {pct(r['rude'])} | "
              f"{pct(r['deflect'])} | {pct(r['stonewall'])} | {pct(r['referral'])} | "
              f"{pct(r['ok'])} | {pct(dev)} |")
    w("")
    w(f"Rule, fixed before this table was computed: the most rude+evasive recall among the "
      f"settings at which at most {DEV_DIALOGUES_MAX:.1%} of the CrossWOZ dialogues and at "
      f"most {DEV_REFERRALS_MAX:.1%} of the referrals are flagged (margins under the 3% and "
      "5% targets for the optimism of choosing on these figures); if none qualifies, the "
      f"fewest CrossWOZ dialogues flagged. Chosen: **unigram weight {uw_best:g}, threshold "
      f"{threshold:g}** for both `rude_reply` and `evasive_reply`.")
    if not feasible:
        w("")
        w("**No setting met both development limits**: the targets of issue 18 cannot all be "
          "met by this model on this data; the table is the trade-off.")
    from phrasecheck.policy import load_policy

    preset = {float(r.spec.get("threshold", 0.5)) for r in load_policy("default").rules
              if r.kind == "classifier"}
    if preset != {threshold}:
        w(f"**The default policy uses {sorted(preset)}: update presets/default.yaml.**")
    w("")

    if args.dev_only:
        log("\n".join(md))
        return 0

    # --------------------------------------------------- 4. held-out: test split
    log("test split …")
    test_tones = model.predict(test["text"].tolist(), explain=0)
    balanced = model.with_prior(model.prior["train"]).predict(test["text"].tolist(), explain=0)
    pred_fine = [t.subcategory or "ok" if t.label != "ok" else "ok" for t in balanced]
    w("## 4. Frozen test split (held out)")
    w("")
    w(f"{len(test)} rows, never used for any choice above. The model's four classes at the "
      "training mix (what a balanced test set rewards):")
    w("")
    w("| class | precision | recall | F1 | support |")
    w("|---|---:|---:|---:|---:|")
    for c, p, r, f, n in per_class(y_test, pred_fine, FINE):
        w(f"| {c} | {p:.3f} | {r:.3f} | {f:.3f} | {n} |")
    test_macro = macro_f1(y_test, pred_fine, FINE)
    test_classes = {c: {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4),
                        "support": n} for c, p, r, f, n in per_class(y_test, pred_fine, FINE)}
    w(f"| **macro** | | | **{test_macro:.3f}** | {len(test)} |")
    w("")
    tr = flag_rates(decider, test_tones, test, threshold)
    w(f"At the deployed decision (deployment prior, threshold {threshold:g}, short-reply rule):")
    w("")
    w("| group | flagged |")
    w("|---|---:|")
    for key, name in (("bad", "rude + evasive (target >= 85%)"), ("rude", "rude"),
                      ("deflect", "deflect — buck-passing (target >= 80%)"),
                      ("stonewall", "stonewall"),
                      ("referral", "responsible referrals (target <= 5%)"),
                      ("ok", "other ok replies")):
        w(f"| {name} | {pct(tr[key])} |")
    w("")

    # ------------------------------------------------ 5. held-out: ASR-style set
    asr = read_asr()
    if asr is not None:
        log("ASR held-out …")
        asr_tones = model.predict(asr["text"].tolist(), explain=0)
        ar = flag_rates(decider, asr_tones, asr, threshold)
        w("## 5. ASR-style held-out set (`asr_heldout.csv`)")
        w("")
        w(f"{len(asr)} phone replies as a cheap ASR engine writes them (no punctuation, "
          "fillers, homophone errors, numbers as words), written for this measurement and "
          "never trained or tuned on; "
          + ", ".join(f"{k} {v}" for k, v in Counter(asr["sub"]).most_common()) + ".")
        w("")
        w("| group | flagged |")
        w("|---|---:|")
        for key, name in (("bad", "rude + evasive"), ("rude", "rude"), ("deflect", "deflect"),
                          ("stonewall", "stonewall"), ("referral", "responsible referrals"),
                          ("ok", "other ok replies")):
            w(f"| {name} | {pct(ar[key])} |")
        w("")

    # --------------------------------------------- 6. held-out: clean dialogues
    w("## 6. Clean conversations (held out)")
    w("")
    if dev_flags is not None and cw is not None:
        w(f"Development (section 3): {pct(len(dev_flags[threshold]) / len(cw))} of "
          f"{len(cw)} CrossWOZ val + test dialogues get at least one banned or tone finding.")
        w("")
    if args.dialogues is not None:
        import fresh_dialogues as fd

        w("Held out: MultiWOZ-zh (ConvLab-2's Chinese MultiWOZ 2.1: a travel information "
          "desk; Apache-2.0 / MIT; read from outside the repository, SHA-256 checked, never "
          "looked at while building). No dialogue is quoted here; flagged ones are listed by "
          "id.")
        w("")
        w("| dialogues | n | agent turns | with a finding | target |")
        w("|---|---:|---:|---:|---|")
        for name, label in (("human_val.json.zip", "human-corrected validation"),
                            ("test.json.zip", "machine-translated test")):
            path = args.dialogues / name
            if not path.is_file():
                continue
            if fd.sha256(path) != fd.MULTIWOZ_ZH_SHA256[name]:
                w(f"| {label} | SHA-256 mismatch: not measured | | | |")
                continue
            dl = fd.load_multiwoz_zh(path)
            got = dialogue_flags(decider, model, dl, [threshold])[threshold]
            n_agent = sum(1 for _, d in dl for r, _ in d if r == "agent")
            w(f"| {label} | {len(dl)} | {n_agent} | {pct(len(got) / len(dl))} | <= 3% |")
            log(f"  {name}: flagged {got[:30]}")
        w("")
    else:
        w("Not measured in this run (pass `--dialogues DIR`).")
        w("")

    # ------------------------------------------------------------ 7. baselines
    w("## 7. COLD and the banned lexicon alone")
    w("")
    cold = cold_attacks()
    if cold:
        ct = model.predict(cold, explain=0)
        hits = sum(decider.flag(t, x, None, threshold) for t, x in zip(ct, cold, strict=True))
        w(f"COLD personal attacks (social media, out of domain): {pct(hits / len(cold))} of "
          f"{len(cold)} flagged at the deployed decision.")
        w("")
    lex_bad = [bool(decider.banned(t)) for t, c in zip(test["text"], y_test, strict=True)
               if c != "ok"]
    lex_ok = [bool(decider.banned(t)) for t, c in zip(test["text"], y_test, strict=True)
              if c == "ok"]
    w(f"The banned lexicon alone on the test split: {pct(statistics.fmean(lex_bad))} of rude "
      f"and evasive replies, {pct(statistics.fmean(lex_ok))} of ok replies.")
    w("")

    # ---------------------------------------------------------------- 8. latency
    texts = test["text"].tolist()[:300]
    model.predict(texts[:20])
    times = []
    for t in texts:
        t0 = time.perf_counter()
        model.predict([t])
        times.append((time.perf_counter() - t0) * 1e6)
    times.sort()
    w("## 8. Latency")
    w("")
    w(f"One reply at a time, pure Python: median {statistics.median(times):.0f} µs, p99 "
      f"{times[int(0.99 * (len(times) - 1))]:.0f} µs ({len(times)} replies, this machine, "
      "this run; see benchmarks/ for the real figures).")
    w("")
    w(f"Run time {time.time() - t_start:.0f} s.")
    args.output.write_text("\n".join(md) + "\n", encoding="utf-8")
    log("\n".join(md))
    if not args.no_write_model:
        from phrasecheck.classify.tables import write_tables

        model = model.with_metadata(metrics={
            "operating_threshold": threshold,
            "test": {"macro_f1": round(test_macro, 4), "classes": test_classes,
                     "flagged_at_operating_threshold": tr}})
        model.save(MODEL_OUT)
        log(f"wrote {MODEL_OUT} and {write_tables(MODEL_OUT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
