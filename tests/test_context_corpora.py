"""Checks on the hand-written judgement corpora of issue 13 (corpora/context, corpora/calls,
corpora/customer) and their frozen held-out splits (corpora/splits.py)."""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

CORPORA = Path(__file__).resolve().parent.parent / "corpora"
sys.path.insert(0, str(CORPORA))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from splits import SHARES, heldout  # noqa: E402

DOMAINS = {"gov", "hotline", "social", "tax", "bank", "telecom", "ecommerce", "hospital",
           "court", "utility"}
OUTCOMES = {"pass", "fail", "na"}


def _jsonl(pattern: str) -> list[dict[str, Any]]:
    items = []
    for path in sorted(CORPORA.glob(pattern)):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                items.append(json.loads(line))
    return items


CONTEXT = _jsonl("context/*.jsonl")
CALLS = _jsonl("calls/calls*.jsonl")
FRESH = _jsonl("fresh/calls_*.jsonl")
FRESH_CONTEXT = _jsonl("fresh/context_*.jsonl")


def test_context_corpus_size_and_ids() -> None:
    assert len(CONTEXT) >= 150
    ids = [c["id"] for c in CONTEXT]
    assert len(set(ids)) == len(ids)
    assert {c["metadata"]["domain"] for c in CONTEXT} >= {"gov", "bank", "hospital", "court"}


@pytest.mark.parametrize("item", CONTEXT, ids=[c["id"] for c in CONTEXT])
def test_context_gold_is_consistent(item: dict[str, Any]) -> None:
    turns, gold = item["turns"], item["gold"]
    assert {t["role"] for t in turns} <= {"agent", "customer"}
    for c in gold.get("complaints", []):
        assert turns[c["turn"]]["role"] == "customer"
        assert c["kind"] in {"explicit", "implicit", "sarcasm", "escalation"}
    for h in gold.get("holds", []):
        assert turns[h["turn"]]["role"] == "agent" and turns[h["return_turn"]]["role"] == "agent"
        assert h["turn"] < h["return_turn"]
    cs, hs = gold.get("complaints", []), gold.get("holds", [])

    def outcome(flags: list[bool]) -> str:
        return "na" if not flags else ("pass" if all(flags) else "fail")

    assert gold["apology_after_complaint"] == outcome([c["apologised"] for c in cs])
    assert gold["wait_before_hold"] == outcome([h["wait_before"] for h in hs])
    assert gold["thanks_after_hold"] == outcome([h["thanks_after"] for h in hs])


def _check_calls(calls: list[dict[str, Any]]) -> None:
    ids = [c["id"] for c in calls]
    assert len(set(ids)) == len(ids)
    for call in calls:
        text = "".join(u["text"] for u in call["utterances"])
        assert 300 <= len(text) <= 1500, (call["id"], len(text))
        assert call["layout"] in {"spaces", "commas", "none", "lines"}
        roles = [u["role"] for u in call["utterances"]]
        assert set(roles) == {"agent", "customer"}
        g = call["gold"]
        for key in ("rude", "evasive"):
            marked = g[f"{key}_utterances"]
            assert g[key] is bool(marked), call["id"]
            assert all(roles[i] == "agent" for i in marked), call["id"]
    compliant = sum(not (c["gold"]["rude"] or c["gold"]["evasive"]) and c["gold"]["greeting"]
                    and c["gold"]["closing"] for c in calls)
    assert 0.35 <= compliant / len(calls) <= 0.65


def test_calls_corpus() -> None:
    assert len(CALLS) >= 48
    _check_calls(CALLS)


def test_fresh_sets_are_separate_test_sets() -> None:
    """corpora/fresh: the formats and checks of corpora/calls and corpora/context; no id
    shared with them, and the training script's loaders never read them."""
    assert len(FRESH) >= 30
    _check_calls(FRESH)
    assert {c["domain"] for c in FRESH} == DOMAINS
    assert not {c["id"] for c in FRESH} & {c["id"] for c in CALLS}
    assert len(FRESH_CONTEXT) >= 30
    assert {c["metadata"]["domain"] for c in FRESH_CONTEXT} == DOMAINS
    fresh_ids = [c["id"] for c in FRESH_CONTEXT]
    assert len(set(fresh_ids)) == len(fresh_ids)
    assert not set(fresh_ids) & {c["id"] for c in CONTEXT}
    sys.path.insert(0, str(CORPORA / "context"))
    import models

    assert {c["id"] for c in models.load_calls()} == {c["id"] for c in CALLS}
    assert {c["id"] for c in models.load_context()} == {c["id"] for c in CONTEXT}


@pytest.mark.parametrize("item", FRESH_CONTEXT, ids=[c["id"] for c in FRESH_CONTEXT])
def test_fresh_context_gold_is_consistent(item: dict[str, Any]) -> None:
    test_context_gold_is_consistent(item)


def _customer_rows() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in sorted((CORPORA / "customer").glob("turns_*.csv")):
        with open(path, encoding="utf-8", newline="") as f:
            rows.extend(csv.DictReader(f))
    return rows


def test_customer_corpus() -> None:
    rows = _customer_rows()
    assert len(rows) >= 1200
    assert len({r["id"] for r in rows}) == len(rows)
    labels = Counter(r["label"] for r in rows)
    assert set(labels) == {"complaint", "none"} and min(labels.values()) >= 600
    assert {r["domain"] for r in rows} == DOMAINS
    hard_none = sum(r["label"] == "none" and r["hard"] == "1" for r in rows)
    assert hard_none >= 300
    from phrasecheck.classify import normalize_reply
    from test_replies_corpus import near_duplicates

    texts = [r["text"] for r in rows]
    assert all(normalize_reply(t) for t in texts)
    pairs = near_duplicates(texts)
    assert not pairs, [(rows[i]["id"], rows[j]["id"]) for i, j, _ in pairs[:5]]


@pytest.mark.parametrize(("corpus", "ids"), [
    ("context", [c["id"] for c in CONTEXT]),
    ("calls", [c["id"] for c in CALLS]),
    ("customer", [r["id"] for r in _customer_rows()]),
])
def test_heldout_split_is_frozen_by_id_and_near_its_share(corpus: str, ids: list[str]) -> None:
    held = [i for i in ids if heldout(corpus, i)]
    share = len(held) / len(ids)
    # a hash of the id decides; with n items the share wanders about sqrt(p(1-p)/n)
    spread = 3 * (SHARES[corpus] * (1 - SHARES[corpus]) / len(ids)) ** 0.5
    assert abs(share - SHARES[corpus]) <= spread, (share, SHARES[corpus])
    assert heldout(corpus, ids[0]) == heldout(corpus, ids[0])
