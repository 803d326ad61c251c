"""Train the judgement models of issue 13 from the hand-written corpora (training parts only).

- the **diarisation model** (``src/phrasecheck/models/diarize.json``): a role model (P(agent)
  for a stretch of speech), a boundary model (is there an utterance boundary at this point of
  unpunctuated text?) and the HMM's start and switch probabilities;
- the **complaint detector** (``src/phrasecheck/models/complaint.json``): P(complaint) for a
  customer turn, with the lexicon's complaint cue as one of its features.

Every function here takes the training items only; ``corpora/splits.py`` decides what is held
out, and ``evaluate.py`` calls these functions, then measures on the held-out items.
Both models use the reply-tone model's estimator and JSON format
(:class:`phrasecheck.classify.ToneClassifier` / ``ToneModel``): one way to train, ship and
score a linear text model in this project.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CORPORA = ROOT / "corpora"
sys.path.insert(0, str(CORPORA))
sys.path.insert(0, str(CORPORA / "calls"))

from build import layout_text, load_calls, read_jsonl  # noqa: E402, F401  (calls/build.py)
from splits import heldout  # noqa: E402

SEED = 0
_PUNCT_RE = re.compile(r"[，。？！；,.?!;…、：:“”\"'‘’（）()\s]+")


# ------------------------------------------------------------------------ corpora


def load_context(directory: Path = CORPORA / "context") -> list[dict[str, Any]]:
    return read_jsonl(sorted(directory.glob("*.jsonl")))


def load_customer(directory: Path = CORPORA / "customer") -> list[dict[str, str]]:
    import csv

    rows: list[dict[str, str]] = []
    for path in sorted(directory.glob("turns_*.csv")):
        with open(path, encoding="utf-8", newline="") as f:
            rows.extend(csv.DictReader(f))
    return rows


def split(items: Iterable[Mapping[str, Any]], corpus: str, key: str = "id"
          ) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """(training items, held-out items) by the frozen rule of corpora/splits.py."""
    train, test = [], []
    for it in items:
        (test if heldout(corpus, str(it[key])) else train).append(it)
    return train, test


# ------------------------------------------------------------------ diarisation


def _role_by_char(call: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """A call's raw lines and the gold role of every character of the joined text."""
    text, spans = layout_text(call)
    roles = [""] * len(text)
    for (a, b), u in zip(spans, call["utterances"]):
        for k in range(a, b):
            roles[k] = u["role"]
    return text.split("\n"), roles


def _unit_roles(lines: Sequence[str], roles: Sequence[str], pieces: Sequence[Any]) -> list[str]:
    offsets, pos = [], 0
    for ln in lines:
        offsets.append(pos)
        pos += len(ln) + 1
    out = []
    for p in pieces:
        a = offsets[p.chunk] + p.start
        votes = Counter(r for r in roles[a:offsets[p.chunk] + p.end] if r)
        out.append(votes.most_common(1)[0][0] if votes else "")
    return out


def call_units(call: Mapping[str, Any]) -> tuple[list[str], list[Any], list[str]]:
    """A call's raw lines, its units (:func:`phrasecheck.diarize.units`) and each unit's gold
    role (the role of most of its characters)."""
    import rjieba

    from phrasecheck.diarize import units

    lines, roles = _role_by_char(call)
    pieces = units(lines, rjieba.cut)
    return lines, pieces, _unit_roles(lines, roles, pieces)


_CLAUSE = re.compile(r"[，。？！；,.?!;…、：:]+")


def render(conv: Sequence[tuple[str, str]], style: str) -> tuple[list[str], list[str]]:
    """A written conversation as an undiarised ASR transcript of one line, and the role of
    every character: ``spaces`` (clauses without punctuation, a space at every clause or turn
    end), ``commas`` (an ASR comma there instead), ``glued`` (nothing at all) or ``words`` (a
    space between every word)."""
    import rjieba

    sep = {"spaces": " ", "commas": "，", "glued": "", "words": " "}[style]
    parts: list[str] = []
    roles: list[str] = []
    for role, t in conv:
        clauses = [_PUNCT_RE.sub("", c) for c in _CLAUSE.split(t)]
        if style == "words":  # an engine that puts a space between every word
            clauses = [w for c in clauses for w in rjieba.cut(c) if w.strip()]
        for flat in clauses:
            if not flat:
                continue
            if parts:
                parts.append(sep)
                roles.extend([""] * len(sep))
            parts.append(flat)
            roles.extend([role] * len(flat))
    return ["".join(parts)], roles


STYLES = ("spaces", "commas", "glued", "words")


def sequences(calls: Sequence[Mapping[str, Any]],
              conversations: Sequence[Sequence[tuple[str, str]]]
              ) -> list[tuple[list[str], list[Any], list[str], int]]:
    """Training sequences for the tagger: ``(lines, units, gold role of each unit, source)``.

    Each training call as its layout has it, and again in every style of :data:`STYLES`
    (its pauses as spaces, ASR commas, nothing at all, or a space between every word); each
    written conversation rendered in one style, in turn. ``source`` is the call's index, or
    ``len(calls)`` plus the conversation's: the cross-fitting folds follow it, so that no
    rendering of a call is judged by a role model that saw the call.

    Why every call in every style: the calls are the only training text that sounds like a
    phone call (short answers, fillers, both sides backchannelling), and an engine may cut
    the same call into pauses, words or nothing; the tagger learns how far each kind of gap
    and each density of cutting (:func:`phrasecheck.diarize.piece_features`) can be trusted.
    """
    import rjieba

    from phrasecheck.diarize import units

    out = [(*call_units(c), i) for i, c in enumerate(calls)]
    for i, conv in enumerate(conversations):
        lines, roles = render(conv, STYLES[i % len(STYLES)])
        pieces = units(lines, rjieba.cut)
        out.append((lines, pieces, _unit_roles(lines, roles, pieces), len(calls) + i))
    for i, call in enumerate(calls):
        # the call's pauses (spaces or ASR commas inside an utterance) become clause ends
        said = [(str(u["role"]), _PAUSE.sub("，", str(u["text"]))) for u in call["utterances"]]
        for style in STYLES:
            lines, roles = render(said, style)
            pieces = units(lines, rjieba.cut)
            out.append((lines, pieces, _unit_roles(lines, roles, pieces), i))
    return out


_PAUSE = re.compile(r"\s+")


def stretch_labels(roles: Sequence[str]) -> list[str]:
    """The tagger's labels (:data:`phrasecheck.diarize.LABELS_BIES`): ``agent-B`` where a
    stretch of the agent's speech begins, ``agent-I`` inside it, ``agent-E`` where it ends,
    ``agent-S`` for a stretch of one unit, and the same for the customer."""
    out = []
    for i, r in enumerate(roles):
        start = i == 0 or roles[i - 1] != r
        end = i == len(roles) - 1 or roles[i + 1] != r
        out.append(f"{r}-{'S' if start and end else 'B' if start else 'E' if end else 'I'}")
    return out


def role_examples(calls: Sequence[Mapping[str, Any]],
                  conversations: Iterable[Sequence[tuple[str, str]]],
                  replies: Iterable[str], customer: Iterable[str]
                  ) -> tuple[list[str], list[str]]:
    """``(texts, roles)`` for the role model: the utterances of the training calls, and whole
    turns and single clauses of the written corpora."""
    texts: list[str] = []
    roles: list[str] = []

    from phrasecheck.diarize import plain

    def add(t: str, r: str) -> None:
        texts.append(plain(t))
        roles.append(r)
        clauses = [plain(c) for c in _CLAUSE.split(t) if plain(c)]
        if len(clauses) > 1:
            for c in clauses:
                texts.append(c)
                roles.append(r)

    for call in calls:
        for u in call["utterances"]:
            add(u["text"], u["role"])
    for conv in conversations:
        for role, t in conv:
            add(t, role)
    for t in replies:
        add(t, "agent")
    for t in customer:
        add(t, "customer")
    return texts, roles


def conversations_of(context: Sequence[Mapping[str, Any]], demo: Sequence[Any]
                     ) -> list[list[tuple[str, str]]]:
    """(role, text) turns of the context corpus and the demo corpus (agent/customer only)."""
    out = [[(t["role"], t["text"]) for t in c["turns"]] for c in context]
    out += [[(t.role, t.text) for t in c.turns if t.role in ("agent", "customer")]
            for c in demo]
    return out


def train_text_model(texts: Sequence[str], labels: Sequence[str], **params: Any) -> Any:
    """A ToneClassifier fitted and exported (JSON spec of the project's linear text model)."""
    from phrasecheck.classify import ToneClassifier

    est = ToneClassifier(random_state=SEED, **params).fit(list(texts), list(labels))
    counts = Counter(labels)
    return est.to_model({"training": {"n_rows": len(texts),
                                      "label_counts": dict(sorted(counts.items())),
                                      "params": {k: v for k, v in est.get_params().items()
                                                 if isinstance(v, (int, float, str, type(None)))
                                                 }}})


# the role model's probabilities are the tagger's features (binned log-odds), so it needs no
# calibration; leaving it out makes the cross-fitting below six times cheaper
ROLE_PARAMS = {"features": "char", "char_ngram_range": (1, 3), "unigram_weight": 1.0, "C": 3.0,
               "min_df": 3, "max_features": 30000, "calibration": "none"}
# chosen by 4-fold cross-validation on the training calls (evaluate.py's folds, best decoding
# of each) among c1/c2 = 0.02/0.01, 0.05/0.02, 0.1/0.05 and 0.05/0.05 for the BIES tagger:
# 0.8846, 0.8861, 0.8848, 0.8854 (2026-12-03; flat, the largest taken)
CRF_PARAMS = {"c1": 0.05, "c2": 0.02, "max_iterations": 300}
FOLDS = 3


def train_diarize(calls: Sequence[Mapping[str, Any]], context: Sequence[Mapping[str, Any]],
                  replies: Sequence[str], customer: Sequence[str], demo: Sequence[Any],
                  role_params: Mapping[str, Any] | None = None,
                  crf_params: Mapping[str, Any] | None = None,
                  change_bias: float = 0.0, decode: str = "viterbi") -> dict[str, Any]:
    """The diarisation model: a role model on every training text, and a CRF tagger trained
    on features whose role-model log-odds are cross-fitted (each sequence's come from a role
    model that never saw it), so the tagger learns how far the role model can be trusted on
    unseen speech."""
    import tempfile

    import pycrfsuite
    import rjieba

    from phrasecheck.diarize import LABELS_BIES as LABELS
    from phrasecheck.diarize import _is_space, _slice, piece_features, prior_of
    from phrasecheck.diarize import role_odds as odds_of

    convs = conversations_of(context, demo)
    rparams = {**ROLE_PARAMS, **(role_params or {})}
    seqs = sequences(calls, convs)
    feats: list[list[list[str]]] = [[] for _ in seqs]
    n_calls = len(calls)
    for k in range(FOLDS):
        inside = [i for i, seq in enumerate(seqs) if seq[3] % FOLDS == k]
        out_calls = [c for i, c in enumerate(calls) if i % FOLDS != k]
        out_convs = [c for j, c in enumerate(convs) if (n_calls + j) % FOLDS != k]
        texts, roles = role_examples(out_calls, out_convs, replies, customer)
        fold_model = train_text_model(texts, roles, **rparams)
        prior = prior_of(fold_model.to_dict())
        for i in inside:
            lines, pieces, _, _ = seqs[i]
            flat = ["".join(ch for ch in _slice(lines, p, p) if not _is_space(ch))
                    for p in pieces]
            toks = [[w for w in rjieba.cut(t) if w.strip()] for t in flat]
            feats[i] = piece_features(flat, [p.before for p in pieces], toks,
                                      odds_of(fold_model, prior, lines, pieces))
    texts, roles = role_examples(calls, convs, replies, customer)
    role_model = train_text_model(texts, roles, **rparams)
    cparams = {**CRF_PARAMS, **(crf_params or {})}
    algorithm = cparams.pop("algorithm", "lbfgs")
    if algorithm != "lbfgs":  # the other trainers take none of L-BFGS's parameters
        cparams = {k: v for k, v in (crf_params or {}).items() if k != "algorithm"}
    trainer = pycrfsuite.Trainer(algorithm=algorithm, verbose=False)
    for (_, _, gold, _), f in zip(seqs, feats, strict=True):
        if gold and all(gold):
            trainer.append(f, stretch_labels(gold))
    trainer.set_params(cparams)
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/tagger.crfsuite"
        trainer.train(path)
        tagger = pycrfsuite.Tagger()
        tagger.open(path)
        info = tagger.info()
        tagger.close()
    state: dict[str, list[float]] = {}
    for (attr, label), w in info.state_features.items():
        state.setdefault(attr, [0.0] * len(LABELS))[LABELS.index(label)] = round(float(w), 6)
    trans = [[0.0] * len(LABELS) for _ in LABELS]
    for (a, b), w in info.transitions.items():
        trans[LABELS.index(a)][LABELS.index(b)] = round(float(w), 6)
    return {"format": "phrasecheck-diarize-model", "format_version": 1,
            "roles": role_model.to_dict(),
            "tagger": {"labels": list(LABELS), "state": dict(sorted(state.items())),
                       "transitions": trans, "change_bias": change_bias, "decode": decode,
                       "params": {**CRF_PARAMS, **(crf_params or {})}},
            "training": {"calls": len(calls), "conversations": len(convs),
                         "role_rows": len(texts), "sequences": len(seqs)}}


# -------------------------------------------------------------------- complaints


def complaint_examples(customer_rows: Sequence[Mapping[str, str]],
                       context: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """``(texts, complaint|none)``: the customer corpus and the customer turns of the
    context conversations (complaint where their gold lists one)."""
    texts = [r["text"] for r in customer_rows]
    labels = [r["label"] for r in customer_rows]
    for conv in context:
        gold = {c["turn"] for c in conv.get("gold", {}).get("complaints", [])}
        for i, t in enumerate(conv["turns"]):
            if t["role"] == "customer":
                texts.append(t["text"])
                labels.append("complaint" if i in gold else "none")
    return texts, labels


def with_cue(texts: Sequence[str], analyzer: Any) -> list[str]:
    """The detector's input, as :meth:`phrasecheck.Analyzer.complaint_verdicts` builds it: the
    text, plus ``CUE_MARK`` when the lexicon's complaint cues match it (so the model learns
    how far a cue can be trusted)."""
    from phrasecheck.complaints import CUE_MARK

    out = []
    for t in texts:
        hit = any(f.category == "complaint"
                  for f in analyzer.check_text(t, role="customer", classify=False,
                                               kinds=("cue",)))
        out.append(f"{t} {CUE_MARK}" if hit else t)
    return out


# chosen by 5-fold cross-validation on the training conversations (apology_after_complaint
# defect F1) among C in {1, 3, 10}, char+word / char / word features, punctuation kept or
# stripped; see corpora/context/EVAL.md. Characters alone since 2026-12-03: on the 191
# training conversations and 2,000 training turns the same cross-validated quality (apology
# F1 0.933 at 0.8, the threshold section 1 chose, against 0.918 at 0.6 for characters and
# words; per-turn F1 0.842 against 0.857 at 0.5), and no jieba pass over every customer turn:
# 6 % of score_many's time, which pays for asking the hold model after a customer's 好的
COMPLAINT_PARAMS = {"features": "char", "unigram_weight": 0.5, "C": 3.0}


def train_complaint(customer_rows: Sequence[Mapping[str, str]],
                    context: Sequence[Mapping[str, Any]], analyzer: Any, **params: Any) -> Any:
    texts, labels = complaint_examples(customer_rows, context)
    kw = {**COMPLAINT_PARAMS, **params}
    return train_text_model(with_cue(texts, analyzer), labels, **kw)


# ------------------------------------------------------------------------- holds


def hold_examples(context: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """``(texts, hold|none)``: every agent turn of the context conversations, ``hold`` where
    the gold names it as the turn that announces a hold (look-alikes, which the gold lists as
    not-holds, and every other agent turn are ``none``)."""
    texts, labels = [], []
    for conv in context:
        gold = {h["turn"] for h in conv.get("gold", {}).get("holds", [])}
        for i, t in enumerate(conv["turns"]):
            if t["role"] == "agent":
                texts.append(t["text"])
                labels.append("hold" if i in gold else "none")
    return texts, labels


# the complaint detector's regularisation; character n-grams only: the same cross-validated
# F1 as characters and words (0.952, at thresholds 0.1 and 0.2 respectively) at half the
# cost per turn, and no jieba pass
HOLD_PARAMS = {"features": "char", "unigram_weight": 0.5, "C": 3.0}


def train_hold(context: Sequence[Mapping[str, Any]], **params: Any) -> Any:
    texts, labels = hold_examples(context)
    return train_text_model(texts, labels, **{**HOLD_PARAMS, **params})
