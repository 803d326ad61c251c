"""Deterministic, realistic benchmark corpora built from the team's own corpora.

Conversations are assembled turn by turn from ``corpora/demo`` (openings, closings, middle
turns of real-looking calls and chats, both roles) and ``corpora/replies`` (single agent
replies, compliant and not), with lengths like real calls (20–60 turns). The same seed
always gives the same corpus.

    python benchmarks/corpus.py --conversations 2000 --out benchmarks/.data/corpus_2000
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Pools:
    openings: list[str]
    closings: list[str]
    agent: list[str]
    customer: list[str]
    replies: list[str]


def load_pools() -> Pools:
    from phrasecheck.readers import read_conversations

    openings, closings, agent, customer = [], [], [], []
    for conv in read_conversations(ROOT / "corpora" / "demo"):
        agent_turns = [t.text for t in conv.turns if t.role == "agent"]
        if not agent_turns:
            continue
        openings.append(agent_turns[0])
        closings.append(agent_turns[-1])
        agent.extend(agent_turns[1:-1])
        customer.extend(t.text for t in conv.turns if t.role == "customer")
    replies = []
    for path in sorted((ROOT / "corpora" / "replies").glob("replies_*.csv")):
        with open(path, encoding="utf-8", newline="") as fh:
            replies.extend(row["text"] for row in csv.DictReader(fh))
    return Pools(openings, closings, agent, customer, replies)


def generate(n: int, seed: int = 20261127, pools: Pools | None = None,
             distinct: bool = False) -> list[dict]:
    """``n`` conversations as dicts ``{id, turns: [{role, text}], metadata}``.

    The turns are drawn from finite pools, so they repeat (in the default 1,000: 4,891
    distinct agent texts of 20,904, 415 customer texts of 19,393), and ``score_many`` scores
    a text met again in its batch once. Real calls repeat less. ``distinct`` makes every turn
    distinct, as no two turns of real calls quite are: each gets a case number of its own
    appended (``，单号<k>``), the same turns otherwise."""
    pools = pools or load_pools()
    rng = random.Random(seed)
    out = []
    for i in range(n):
        length = rng.randint(20, 60)
        turns = [{"role": "agent", "text": rng.choice(pools.openings)}]
        for k in range(1, length - 1):
            if k % 2:
                turns.append({"role": "customer", "text": rng.choice(pools.customer)})
            else:
                pool = pools.replies if rng.random() < 0.3 else pools.agent
                turns.append({"role": "agent", "text": rng.choice(pool)})
        turns.append({"role": "agent", "text": rng.choice(pools.closings)})
        out.append({"id": f"bench_{i:06d}", "turns": turns,
                    "metadata": {"agent_id": f"A{rng.randint(1, 40):03d}"}})
    if distinct:
        k = 0
        for conv in out:
            for t in conv["turns"]:
                k += 1
                t["text"] = f"{t['text']}，单号{k}"
    return out


def write(conversations: list[dict], out: Path, per_file: int = 250) -> list[Path]:
    """Write as JSONL files of ``per_file`` conversations each."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for start in range(0, len(conversations), per_file):
        p = out / f"part_{start // per_file:05d}.jsonl"
        with open(p, "w", encoding="utf-8") as fh:
            for c in conversations[start:start + per_file]:
                fh.write(json.dumps(c, ensure_ascii=False) + "\n")
        paths.append(p)
    return paths


def long_text(chars: int, seed: int = 7) -> str:
    """One long realistic text: turns of generated conversations joined by newlines."""
    parts: list[str] = []
    total = 0
    for conv in generate(max(10, chars // 1000), seed=seed):
        for t in conv["turns"]:
            parts.append(t["text"])
            total += len(t["text"]) + 1
            if total >= chars:
                return "\n".join(parts)[:chars]
    return "\n".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conversations", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--distinct", action="store_true",
                    help="every turn distinct (a case number of its own appended)")
    args = ap.parse_args()
    convs = generate(args.conversations, args.seed, distinct=args.distinct)
    paths = write(convs, args.out)
    chars = sum(len(t["text"]) for c in convs for t in c["turns"])
    print(f"wrote {len(convs)} conversations, {chars:,} characters, {len(paths)} files "
          f"to {args.out}")


if __name__ == "__main__":
    main()
