"""Reviewed replies as training rows for the reply-tone model (``phrasecheck train
--verdicts``).

A verdict on a tone-model finding (``TONE-RUDE``, ``TONE-EVASIVE``) labels the whole reply:
confirmed, it is an example of that label; dismissed (误报), the model was wrong and the reply
is ``ok``. Pending verdicts and verdicts on lexicon hits or rules label nothing. The reply's
text is the finding's text in the verdict file, or, given the scored run the verdicts came
from, the turn's text as it was scored (unmasked). When the same reply is labelled twice, the
verdict in force (the latest) wins.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .verdicts import Verdict

__all__ = ["training_rows"]


def training_rows(verdicts: Iterable[Verdict],
                  scores: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """``text, label, source`` rows from the tone-model verdicts among ``verdicts``;
    ``scores`` is the output folder of the run they review (for the turns' full text)."""
    from .apply import current

    in_force = current(v for v in verdicts if (v.code or "").startswith("TONE-")
                       and v.target == "finding" and v.verdict != "pending")
    texts = _turn_texts(scores, in_force.values()) if scores is not None else {}
    rows: dict[str, dict[str, Any]] = {}
    for v in in_force.values():
        text = texts.get((v.conversation_id, v.turn)) or v.text
        if not text or not text.strip():
            continue
        label = (v.code or "")[5:].lower() if v.verdict == "confirmed" else "ok"
        rows[text] = {"text": text, "label": label,
                      "source": f"review:{v.conversation_id}#{v.turn}"
                                + (f" ({v.reviewer})" if v.reviewer else "")}
    return list(rows.values())


def _turn_texts(out: str | os.PathLike[str], verdicts: Iterable[Verdict]
                ) -> dict[tuple[str, int | None], str]:
    from ..batch import WORK_DIR, _read_records

    wanted = {(v.conversation_id, v.turn) for v in verdicts}
    found: dict[tuple[str, int | None], str] = {}
    for c, _ in _read_records(Path(out) / WORK_DIR / "records.jsonl"):
        for t in c.turns:
            if (c.id, t.index) in wanted:
                found[(c.id, t.index)] = t.text
    return found


def merge_training(base: Any, rows: Sequence[dict[str, Any]]) -> tuple[Any, int, int]:
    """``base`` (a DataFrame with ``text`` and ``label``) with the reviewed ``rows`` added;
    a base row with the same text as a reviewed one is replaced by it. Returns the frame,
    the rows added and the base rows replaced."""
    import pandas as pd

    if not rows:
        return base, 0, 0
    reviewed = pd.DataFrame(rows)
    texts = set(reviewed["text"])
    keep = ~base["text"].astype(str).isin(texts)
    replaced = int((~keep).sum())
    merged = pd.concat([base[keep], reviewed], ignore_index=True)
    return merged, len(rows), replaced
