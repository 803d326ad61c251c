"""Write the raw ASR transcripts of corpora/calls from calls*.jsonl.

    python corpora/calls/build.py          # (re)writes corpora/calls/txt/<id>.txt
    python corpora/calls/build.py --check  # exits 1 if a txt file differs

``calls.jsonl`` and ``calls_b.jsonl`` hold each hand-written call as its utterances with gold
roles. The raw file is what a cheap ASR engine would return for that call: the utterance
texts joined by the call's layout, with no speaker labels:

- ``spaces``: one space between utterances (there are pauses inside utterances too);
- ``commas``: an ASR comma ``，`` between utterances;
- ``none``: nothing at all (the engine glued the call together);
- ``lines``: a space between utterances and a line break after each utterance marked
  ``"nl": true`` (an engine that cuts the call every so often).

:func:`layout_text` also returns where each utterance lies in the raw text, which is how the
evaluation maps inferred roles back onto the gold utterances.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SOURCES = "calls*.jsonl"
OUT = HERE / "txt"
SEPARATORS = {"spaces": " ", "commas": "，", "none": "", "lines": " "}


def read_jsonl(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every record of the JSONL files ``paths``, in order; a malformed line stops with its
    file and line."""
    records = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if line.strip():
                    try:
                        records.append(json.loads(line))
                    except json.JSONDecodeError as e:
                        raise SystemExit(f"{path}:{lineno}: malformed JSON: {e.msg}") from e
    return records


def load_calls(directory: Path = HERE) -> list[dict[str, Any]]:
    """Every call of ``calls*.jsonl``, files in name order."""
    return read_jsonl(sorted(directory.glob(SOURCES)))


def layout_text(call: Mapping[str, Any]) -> tuple[str, list[tuple[int, int]]]:
    """The raw text of a call and the ``[start, end)`` of each utterance in it."""
    layout = call["layout"]
    if layout not in SEPARATORS:
        raise ValueError(f"{call['id']}: unknown layout {layout!r}")
    sep = SEPARATORS[layout]
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    utts: Sequence[Mapping[str, Any]] = call["utterances"]
    for i, u in enumerate(utts):
        text = str(u["text"])
        if text != text.strip() or not text:
            raise ValueError(f"{call['id']}: utterance {i} is empty or has outer spaces")
        parts.append(text)
        spans.append((pos, pos + len(text)))
        pos += len(text)
        if i + 1 < len(utts):
            joiner = "\n" if layout == "lines" and u.get("nl") else sep
            parts.append(joiner)
            pos += len(joiner)
    return "".join(parts), spans


def files(calls: Sequence[Mapping[str, Any]]) -> Iterator[tuple[Path, str]]:
    for call in calls:
        text, _ = layout_text(call)
        yield OUT / f"{call['id']}.txt", text + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    args = ap.parse_args(argv)
    calls = load_calls()
    wanted = dict(files(calls))
    if args.check:
        stale = [p.name for p, t in wanted.items()
                 if not p.is_file() or p.read_text(encoding="utf-8") != t]
        extra = sorted(p.name for p in OUT.glob("*.txt") if p not in wanted)
        if stale or extra:
            print(f"out of date: {stale[:10]}; not in calls*.jsonl: {extra[:10]}")
            return 1
        print(f"{len(wanted)} call files match calls*.jsonl")
        return 0
    OUT.mkdir(exist_ok=True)
    for p in OUT.glob("*.txt"):
        if p not in wanted:
            p.unlink()
    for p, t in wanted.items():
        p.write_text(t, encoding="utf-8")
    print(f"wrote {len(wanted)} files to {OUT.relative_to(HERE.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
