"""Frozen held-out splits of the hand-written corpora, by a hash of each item's id.

An item is held out when the SHA-256 of ``"<corpus>:<id>"`` falls in the first ``share`` of
the hash range. The rule was fixed before the corpora were complete and never changes, so an
item's side is decided by its id alone: nobody chooses which items are held out, items added
later fall on either side without moving the others, and no figure can be improved by
re-drawing the split. The held-out items are never used to train or to choose anything
(features, thresholds, settings); evaluation scripts report on them once.

| corpus | share held out | what the held-out part measures |
|---|---|---|
| ``calls`` (corpora/calls) | 40 % | utterance roles and call outcomes on undiarised calls |
| ``context`` (corpora/context) | 40 % | complaint / hold rule outcomes on whole conversations |
| ``customer`` (corpora/customer) | 20 % | the complaint detector on single customer turns |
"""

from __future__ import annotations

import hashlib

SHARES = {"calls": 0.40, "context": 0.40, "customer": 0.20}


def heldout(corpus: str, item_id: str) -> bool:
    """Whether ``item_id`` of ``corpus`` belongs to the frozen held-out split."""
    share = SHARES[corpus]
    digest = hashlib.sha256(f"{corpus}:{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < share * 2**64
