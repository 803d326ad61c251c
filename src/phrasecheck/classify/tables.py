"""A tone model's lookup tables, ready to use: the numbers of a model file in a form that
loads in milliseconds.

A model file is JSON (``tone.json``, ~4 MB): parsing it, validating it and turning it into
:class:`~.model.ToneModel`'s lookup tables takes ~0.2 s, most of a cold first
``check_text``. A tables file holds the same terms and numbers, already checked:

* ``b"PCTT1\\n"``, then a JSON header (its length as 4 bytes, little-endian): the SHA-256 of
  the model file the tables were made from, the model without its terms (metadata, classes,
  intercept, calibration, feature settings), and each block's number of terms;
* per block, its terms joined by NUL (UTF-8, length-prefixed) and their numbers as
  little-endian float64 (idf, then one coefficient per class, term after term).

Nothing in it can run code (no pickle). :func:`~.model.load_model` uses a tables file only
when the SHA-256 of the model file's bytes is the one in its header: the shipped
``models/tone.tables`` beside ``tone.json`` (``corpora/replies/evaluate.py`` writes both;
``python -m phrasecheck.classify.tables MODEL.json`` writes it for any model), else one it
keeps in the user cache (:mod:`phrasecheck._cache`) after reading a model's JSON once.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from array import array
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["MAGIC", "PackedTerms", "read_tables", "tables_bytes", "write_tables"]

MAGIC = b"PCTT1\n"
_SEP = "\x00"
_LEN = struct.Struct("<I")



class PackedTerms(Mapping[str, tuple[float, tuple[float, ...]]]):
    """A block's terms → ``(idf, per-class coefficients)``, kept packed: one dict from term
    to row number and one flat ``array('d')`` of rows ``idf, coef_0, coef_1, ...``.

    A dict of tuples holds two tuples per term (~150,000 objects for the shipped model),
    which take tens of milliseconds to build and that the garbage collector then walks; the
    row dict (strings and ints) and the array are built in a few milliseconds and the
    collector ignores them. The per-reply scorer unpacks the rows it meets (``seen``)."""

    __slots__ = ("numbers", "row", "seen", "width")

    def __init__(self, row: dict[str, int], numbers: array[float], width: int) -> None:
        self.row = row  # term -> row number
        self.numbers = numbers  # row after row: idf, coef_0, coef_1, ...
        self.width = width  # 1 + number of classes
        # the terms the per-reply scorer has met, unpacked (it reads them far more often
        # than it meets new ones): filled on use, at most one entry per term
        self.seen: dict[str, tuple[float, tuple[float, ...]]] = {}

    def unpack(self, term: str, i: int) -> tuple[float, tuple[float, ...]]:
        """Row ``i`` (that of ``term``) as ``(idf, coefficients)``, remembered in ``seen``."""
        a = i * self.width
        got = self.seen[term] = (self.numbers[a], tuple(self.numbers[a + 1:a + self.width]))
        return got

    @classmethod
    def from_rows(cls, rows: Mapping[str, Sequence[float]], width: int) -> PackedTerms:
        """From ``{term: [idf, coef_0, ...]}`` (a model file's terms)."""
        values = array("d")
        for row in rows.values():
            values.extend(row)
        return cls(dict(zip(rows, range(len(rows)))), values, width)

    def unpack_all(self) -> None:
        """Unpack every row into ``seen`` at once (``warm()``: a checker that will run for a
        while pays it up front instead of term by term on its first messages)."""
        if len(self.seen) < len(self.row):
            self.seen.update((t, (i, c)) for t, i, c in self.entries())

    def __getitem__(self, term: str) -> tuple[float, tuple[float, ...]]:
        a = self.row[term] * self.width
        return self.numbers[a], tuple(self.numbers[a + 1:a + self.width])

    def __iter__(self) -> Iterator[str]:
        return iter(self.row)

    def __len__(self) -> int:
        return len(self.row)

    def entries(self) -> Iterator[tuple[str, float, tuple[float, ...]]]:
        """``(term, idf, coefficients)`` of every term, in order; faster than ``items()``."""
        w, numbers = self.width, self.numbers
        return zip(self.row, numbers[0::w], zip(*(numbers[i::w] for i in range(1, w))))


# (idf, per-class coefficients) of each term, per block
Terms = PackedTerms


def tables_bytes(spec: Mapping[str, Any], model_sha256: str) -> bytes | None:
    """The tables of a validated model ``spec`` (the model file's JSON, parsed), or ``None``
    when its terms cannot be stored exactly (a term holding NUL, a number that is not a
    float)."""
    blocks = spec["features"]["blocks"]
    head = {k: v for k, v in spec.items() if k != "features"}
    head["features"] = {k: v for k, v in spec["features"].items() if k != "blocks"}
    head["features"]["blocks"] = [{k: v for k, v in b.items() if k != "terms"} for b in blocks]
    sizes = []
    parts: list[bytes] = []
    for b in blocks:
        terms = b["terms"]
        if any(_SEP in t for t in terms):
            return None
        values = array("d")
        width = None
        for row in terms.values():
            if width is None:
                width = len(row)
            if len(row) != width or not all(type(x) is float for x in row):
                return None
            values.extend(row)
        if sys.byteorder != "little":
            values.byteswap()
        text = _SEP.join(terms).encode("utf-8")
        parts += [_LEN.pack(len(text)), text, values.tobytes()]
        sizes.append({"n": len(terms), "width": width or 0})
    header = json.dumps({"model_sha256": model_sha256, "head": head, "blocks": sizes},
                        ensure_ascii=False, sort_keys=True).encode("utf-8")
    return b"".join([MAGIC, _LEN.pack(len(header)), header, *parts])


def read_tables(data: bytes, model_sha256: str
                ) -> tuple[dict[str, Any], list[Terms]] | None:
    """``(model without terms, each block's terms)`` from tables ``data`` made from the model
    whose bytes have SHA-256 ``model_sha256``; ``None`` when they were made from another
    model or do not read back."""
    try:
        if not data.startswith(MAGIC):
            return None
        at = len(MAGIC)
        (size,) = _LEN.unpack_from(data, at)
        at += _LEN.size
        header = json.loads(data[at:at + size].decode("utf-8"))
        at += size
        if header.get("model_sha256") != model_sha256:
            return None
        blocks: list[Terms] = []
        for b in header["blocks"]:
            n, width = int(b["n"]), int(b["width"])
            if n and width < 3:  # idf and at least two classes
                return None
            (size,) = _LEN.unpack_from(data, at)
            at += _LEN.size
            names = data[at:at + size].decode("utf-8").split(_SEP) if n else []
            at += size
            values = array("d")
            values.frombytes(data[at:at + 8 * n * width])
            at += 8 * n * width
            if sys.byteorder != "little":
                values.byteswap()
            if len(names) != n or len(values) != n * width:
                return None
            blocks.append(PackedTerms(dict(zip(names, range(n))), values, width))
        if at != len(data):
            return None
        head: dict[str, Any] = header["head"]
        return head, blocks
    except (ValueError, KeyError, TypeError, struct.error, UnicodeDecodeError):
        return None


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_tables(model_path: str | Path, out: str | Path | None = None) -> Path:
    """Write the tables of the model file ``model_path`` (validated first) to ``out``
    (default: beside it, ``<name>.tables``)."""
    from .model import ToneModel

    src = Path(model_path)
    raw = src.read_bytes()
    spec = json.loads(raw.decode("utf-8"))
    ToneModel(spec, source=str(src))  # validates it
    data = tables_bytes(spec, sha256_of(raw))
    if data is None:
        raise ValueError(f"{src}: its terms cannot be stored as tables")
    dest = Path(out) if out is not None else src.with_suffix(".tables")
    dest.write_bytes(data)
    return dest


def _main(argv: Sequence[str]) -> int:
    if not argv:
        print("usage: python -m phrasecheck.classify.tables MODEL.json [...]", file=sys.stderr)
        return 2
    for name in argv:
        print(f"wrote {write_tables(name)}")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
