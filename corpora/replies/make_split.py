"""Choose the frozen test split of the reply-tone corpus, once.

    python corpora/replies/make_split.py            # writes corpora/replies/test_ids.txt
    python corpora/replies/make_split.py --extend   # add test ids for NEW corpus files only
    python corpora/replies/make_split.py --force    # replace an existing split (don't, casually)

About 20% of the rows, stratified by label x domain, drawn with a fixed seed, written as one id
per line (sorted). The split is frozen: once it exists this script refuses to overwrite it,
because every figure in EVAL.md is only honest if the test rows were never looked at while the
model was being designed. Regenerate it (``--force``) only when the corpus itself changes in a
way that makes the old split meaningless (rows removed), and say so in the commit.

When a whole new ``replies_*.csv`` file is added, ``--extend`` keeps every existing test id
and draws 20% of the new file's rows (same seed, same stratification) into the split: the
frozen rows stay frozen and the new rows are represented.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPLIT = HERE / "test_ids.txt"
SEED = 20260404
TEST_SIZE = 0.2


def make_split(directory: Path = HERE, seed: int = SEED, test_size: float = TEST_SIZE
               ) -> list[str]:
    from sklearn.model_selection import train_test_split

    from phrasecheck.classify import load_replies

    df = load_replies(directory)
    strata = (df["label"] + "/" + df["domain"]).tolist()
    _, test_ids = train_test_split(df["id"].tolist(), test_size=test_size,
                                   random_state=seed, stratify=strata)
    return sorted(test_ids)


def extend_split(existing: list[str], directory: Path = HERE, seed: int = SEED,
                 test_size: float = TEST_SIZE) -> list[str]:
    """Existing ids plus a stratified sample of the files that have no test id yet."""
    from sklearn.model_selection import train_test_split

    from phrasecheck.classify import load_replies

    df = load_replies(directory)
    have = set(existing)
    covered = set(df.loc[df["id"].isin(have), "file"])
    new = df[~df["file"].isin(covered)]
    added: list[str] = []
    for _, part in sorted(new.groupby("file"), key=lambda kv: str(kv[0])):
        strata = (part["label"] + "/" + part["domain"]).tolist()
        _, ids = train_test_split(part["id"].tolist(), test_size=test_size,
                                  random_state=seed, stratify=strata)
        added += ids
    return sorted(have | set(added))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--force", action="store_true",
                    help="overwrite an existing test_ids.txt")
    ap.add_argument("--extend", action="store_true",
                    help="keep the existing split; add test ids for corpus files not in it")
    ap.add_argument("-o", "--output", type=Path, default=SPLIT)
    args = ap.parse_args(argv)
    if args.extend:
        old = args.output.read_text(encoding="utf-8").split()
        ids = extend_split(old)
        args.output.write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
        print(f"kept {len(old)} test ids, added {len(ids) - len(old)} from new files")
        return 0
    if args.output.exists() and not args.force:
        print(f"{args.output} exists: the test split is frozen. Use --force to replace it "
              f"(and say why in the commit).", file=sys.stderr)
        return 1
    ids = make_split()
    args.output.write_text("".join(f"{i}\n" for i in ids), encoding="utf-8")
    print(f"wrote {len(ids)} test ids to {args.output} (seed {SEED}, "
          f"{TEST_SIZE:.0%} stratified by label x domain)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
