"""Batch scoring: read many transcripts, score them in worker processes, write the outputs.

Memory stays flat however large the input: conversations stream from the readers in chunks
of 32 into a bounded window of work in flight; every scored conversation is appended to
``OUT/.phrasecheck/records.jsonl`` as soon as it is done; ``scores.*``/``findings.*`` in
csv or jsonl are written as results arrive, the other outputs (``errors.*``,
``report.html``, ``report.xlsx``, parquet) from the records file afterwards, each
atomically (a temporary file renamed into place), so an interrupted run never leaves a
half-written report, and ``resume=True`` skips what a previous run already scored.

With ``jobs > 1`` the workers do the reading too: each input file (up to
``FILE_TASK_MAX_BYTES``) is one task, read, scored and turned into output text by a worker,
which leaves that text in part files the parent appends in input order; bigger files are
read by the parent and sent in chunks. Workers inherit the parent's warmed Analyzer by
fork (elsewhere each builds its own once). ``jobs=1`` and ``jobs=2`` write the same bytes.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import io
import json
import os
import shutil
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from ._unicode import encode_errors
from .frames import score_row
from .types import (
    Conversation,
    ConversationScore,
    ReadError,
    conversation_from_dict,
    conversation_to_dict,
    score_from_dict,
)

__all__ = ["AUTO_JOBS_MIN_BYTES", "FORMATS", "BatchConfig", "BatchResult", "auto_jobs",
           "run_batch"]

FORMATS = ("csv", "jsonl", "parquet", "xlsx", "html")
WORK_DIR = ".phrasecheck"
FINDING_OUT_COLUMNS = [
    "conversation_id", "turn", "role", "start", "end", "text", "context", "context_start",
    "code", "category", "kind", "severity", "source", "score", "phrase", "suggestion", "rules",
    "basis", "basis_text", "explanation",
]
ERROR_COLUMNS = ["path", "line", "conversation_id", "reason"]
TURN_COLUMNS = ["conversation_id", "turn", "role", "speaker", "start", "end", "line", "text"]
#: Characters of the turn either side of a finding kept in its ``context`` (the whole turn
#: once made every finding row carry it: output and memory grew as the square of its length).
CONTEXT_CHARS = 40
HTML_ALL_SECTIONS = 5000
#: inputs smaller than this are scored in this process when the number of jobs is chosen
#: automatically: workers cost about a second of set-up (the parent loads jieba and the
#: model's batch tables before forking), about what scoring 1 MB of transcripts on a second
#: core saves
AUTO_JOBS_MIN_BYTES = 1024 * 1024
T = TypeVar("T")


@dataclass(frozen=True)
class BatchConfig:
    """Everything a worker needs to build its Analyzer (must pickle)."""

    policy: Any = "default"
    lexicons: tuple[str, ...] = ()
    default_lexicon: bool = True
    model: Any = "default"
    #: what the outputs mask: True (numbers and e-mail addresses), False, or the kinds
    #: (see :func:`phrasecheck.reports.redact.redactor`)
    redact: Any = True

    def build(self) -> Any:
        from .analyzer import Analyzer

        return Analyzer(policy=self.policy, lexicons=self.lexicons,
                        default_lexicon=self.default_lexicon, model=self.model)


@dataclass
class BatchResult:
    out_dir: Path
    scored: int = 0
    resumed: int = 0
    errors: list[ReadError] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    grades: Counter[str] = field(default_factory=Counter)
    violations: Counter[str] = field(default_factory=Counter)
    vetoed: int = 0
    below: list[str] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    chars: int = 0

    @property
    def mean_score(self) -> float | None:
        return statistics.fmean(self.scores) if self.scores else None

    @property
    def total(self) -> int:
        return len(self.scores)


# ------------------------------------------------------------------------------ workers

_WORKER_ANALYZER: Any = None
_WORKER_READ: dict[str, Any] = {}
_WORKER_DONE: frozenset[Key] | set[Key] = frozenset()
_WORKER_ROWS: _Rows | None = None

# what the summary needs of one score: id, score, grade, vetoed, the failed rule ids, and
# the source (the input file) the conversation came from
Summary = tuple[str, float, str, bool, tuple[str, ...], "str | None"]
# the identity of an input conversation, which --resume keys on: (its input file, its id
# as read); ids alone repeat across files (call_0001.txt in two folders, ids per export)
Key = tuple["str | None", str]


def _key(c: Conversation) -> Key:
    source = c.metadata.get("source")
    return (None if source is None else str(source), c.id)


@dataclass
class _Chunk:
    """A scored chunk as UTF-8 text, made where it was scored: its lines of the records
    file, its rows of each streamed table (format -> scores, findings) and the summary of
    each conversation. Only bytes travel between processes, and the parent writes them as
    they are: no encoding, decoding or row building in the parent."""

    records: bytes
    tables: dict[str, tuple[bytes, bytes]]
    summaries: list[Summary]
    chars: int = 0  # characters of turn text scored
    errors: list[ReadError] = field(default_factory=list)  # read errors, in order
    file_done: bool = False  # the last part of an input file
    # set when a worker wrote the text to files instead (PREFIX.records, PREFIX.FMT.scores,
    # PREFIX.FMT.findings): the parent appends them without reading them into Python
    spilled: str | None = None

    def spill(self, prefix: str) -> _Chunk:
        """Move the text into files next to ``prefix`` (a worker, for a whole input file:
        far cheaper than pickling it through a pipe to the parent)."""
        with open(prefix + ".records", "wb") as fh:
            fh.write(self.records)
        for fmt, (scores, findings) in self.tables.items():
            with open(f"{prefix}.{fmt}.scores", "wb") as fh:
                fh.write(scores)
            with open(f"{prefix}.{fmt}.findings", "wb") as fh:
                fh.write(findings)
        self.records, self.spilled = b"", prefix
        self.tables = {fmt: (b"", b"") for fmt in self.tables}
        return self

    @staticmethod
    def join(parts: Sequence[_Chunk], formats: Sequence[str]) -> _Chunk:
        return _Chunk(b"".join(p.records for p in parts),
                      {f: (b"".join(p.tables[f][0] for p in parts),
                           b"".join(p.tables[f][1] for p in parts)) for f in formats},
                      [s for p in parts for s in p.summaries], sum(p.chars for p in parts))


# A unit of work: conversations the parent read (with the read errors met on the way and
# whether they end a file), or an input file for the worker to read itself
_Unit = tuple[Literal["convs"], list[Conversation], list[ReadError], bool] | tuple[
    Literal["file"], str, "str | None"]
# files up to this size are read by the worker that scores them (the parent only sends the
# path); bigger ones are read by the parent and sent in chunks, so no worker holds a huge
# file's results at once
FILE_TASK_MAX_BYTES = 8 * 1024 * 1024
# conversations per chunk: the agent turns of a chunk go to the reply-tone model in one call
CHUNK = 32


class _Rows:
    """Makes the output rows of scored conversations, as text for the streamed tables."""

    def __init__(self, analyzer: Any, redact: Any, formats: Sequence[str] = (),
                 context: int = CONTEXT_CHARS) -> None:
        self.rules_by_cat = _rules_by_category(analyzer.policy)
        self.bases = analyzer.lexicon.bases
        self.redact = _redactor(redact)
        self.context = context
        self.formats = tuple(formats)
        self.score_columns = _score_columns(analyzer.policy)

    def make(self, conv: Conversation, sc: ConversationScore
             ) -> tuple[dict[str, Any], list[dict[str, Any]], Summary]:
        failed = tuple(r.rule_id for r in sc.rule_results if r.passed is False)
        source = conv.metadata.get("source")
        return (score_row(sc), list(_finding_rows(conv, sc, self.rules_by_cat, self.bases,
                                                  self.redact, self.context)),
                (sc.id, float(sc.score), sc.grade, bool(sc.vetoed), failed,
                 None if source is None else str(source)))

    def chunk(self, scored: Iterable[tuple[Conversation, ConversationScore]],
              records: bool = True, keys: Mapping[str, Key] | None = None) -> _Chunk:
        """The text of scored conversations: records lines (unless ``records=False``, for
        conversations already in the records file), table rows, summaries. ``keys`` gives
        the input identity of conversations scored under another id than they were read
        with (a duplicate id), kept in the records file for ``--resume``."""
        lines: list[str] = []
        score_rows: list[dict[str, Any]] = []
        finding_rows: list[dict[str, Any]] = []
        summaries: list[Summary] = []
        chars = 0
        for conv, sc in scored:
            chars += sum(len(t.text) for t in conv.turns)
            if records:
                rec: dict[str, Any] = {"c": conversation_to_dict(conv), "s": sc.to_dict()}
                if keys and conv.id in keys:
                    rec["k"] = list(keys[conv.id])
                lines.append(json.dumps(rec, ensure_ascii=False, default=str) + "\n")
            srow, frows, summary = self.make(conv, sc)
            score_rows.append(srow)
            finding_rows += frows
            summaries.append(summary)
        # text from the readers is valid Unicode; conversations handed in through the API
        # may still hold a lone surrogate, written as U+FFFD rather than stopping the batch
        errors = encode_errors()
        tables = {fmt: (_rows_text(fmt, self.score_columns, score_rows).encode("utf-8", errors),
                        _rows_text(fmt, FINDING_OUT_COLUMNS, finding_rows).encode("utf-8",
                                                                                  errors))
                  for fmt in self.formats}
        return _Chunk("".join(lines).encode("utf-8", errors), tables, summaries, chars)


def _rows_text(fmt: str, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    """Rows as the lines of a csv (no header) or jsonl table."""
    if fmt == "csv":
        from .reports.csvsafe import neutralise_row

        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore")
        # cells a spreadsheet would run as formulas are written as text (csvsafe)
        writer.writerows(neutralise_row(r) for r in rows)
        return buf.getvalue()
    return "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)


def _watch_parent(parent: int) -> None:
    """In a worker: exit when the parent process is gone (killed, say), rather than live on
    as an orphan holding memory and the files it was writing."""
    import threading

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, name="phrasecheck-parent-watch", daemon=True).start()


def _init_worker(config: BatchConfig, formats: Sequence[str], read_options: dict[str, Any],
                 done: frozenset[Key], context: int, parent: int) -> None:
    global _WORKER_ANALYZER, _WORKER_ROWS, _WORKER_READ, _WORKER_DONE
    _watch_parent(parent)
    _WORKER_ANALYZER = config.build().warm()
    _WORKER_ROWS = _Rows(_WORKER_ANALYZER, config.redact, formats, context)
    _WORKER_READ, _WORKER_DONE = read_options, done


def _score_text(analyzer: Any, rows: _Rows, chunk: list[Conversation]) -> _Chunk:
    """Score conversations (the model classifies their agent turns in one batch) and turn
    them into text: in the worker, so JSON and CSV encoding run in parallel too."""
    return rows.chunk(zip(chunk, analyzer.score_many(chunk, batch=max(1, len(chunk))), strict=True))


def _score_unit(analyzer: Any, rows: _Rows, unit: _Unit, read_options: dict[str, Any],
                done: frozenset[Key] | set[Key]) -> _Chunk:
    """Score one unit of work: the conversations given, or those of a file read here."""
    if unit[0] == "convs":
        _, convs, met, file_done = unit
        out = _score_text(analyzer, rows, convs)
        out.errors, out.file_done = met, file_done
        return out
    errors: list[ReadError] = []
    todo = (c for c in _read_one(unit[1], unit[2], read_options, errors.append)
            if _key(c) not in done)
    out = _Chunk.join([_score_text(analyzer, rows, part) for part in _chunks(todo, CHUNK)],
                      rows.formats)
    out.errors, out.file_done = errors, True
    return out


def _read_one(path: str | os.PathLike[str], default_id: str | None,
              read_options: Mapping[str, Any], on_error: Callable[[ReadError], None]
              ) -> Iterator[Conversation]:
    """The conversations of one input file (its read errors to ``on_error``)."""
    from .readers import read_file

    for item in read_file(path, default_id=default_id, **read_options):
        if isinstance(item, ReadError):
            on_error(item)
        else:
            yield item


def _score_in_worker(unit: _Unit, spill_dir: str | None) -> _Chunk:
    assert _WORKER_ROWS is not None
    out = _score_unit(_WORKER_ANALYZER, _WORKER_ROWS, unit, _WORKER_READ, _WORKER_DONE)
    if unit[0] == "file" and spill_dir is not None and len(out.records) > _SPILL_BYTES:
        _SPILLED[0] += 1
        out.spill(os.path.join(spill_dir, f"{os.getpid()}-{_SPILLED[0]}"))
    return out


_SPILLED = [0]  # part files this worker has written
# a file's text bigger than this goes back through part files; smaller text (one call per
# file, say) through the result pipe, which costs less than creating and removing files
_SPILL_BYTES = 1 << 20


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for c in items:
        chunk.append(c)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _score_stream(units: Iterable[_Unit], config: BatchConfig, jobs: int, analyzer: Any,
                  rows: _Rows, read_options: dict[str, Any], done: set[Key],
                  spill_dir: str | None = None) -> Iterator[_Chunk]:
    """Score units of work in order, in ``jobs`` processes, a bounded number in flight.

    Where processes start by ``fork`` (Linux), the parent's Analyzer is warmed first (jieba,
    the model and its batch tables loaded once) and the workers inherit it; elsewhere each
    worker builds and warms its own.
    """
    global _WORKER_ANALYZER, _WORKER_ROWS, _WORKER_READ, _WORKER_DONE
    if jobs <= 1:
        for unit in units:
            yield _score_unit(analyzer, rows, unit, read_options, done)
        return
    import multiprocessing

    window = jobs * 4
    pending: list[Future[_Chunk]] = []
    if multiprocessing.get_start_method() == "fork":
        _WORKER_ANALYZER, _WORKER_ROWS = analyzer.warm(), rows
        _WORKER_READ, _WORKER_DONE = read_options, done
        pool = ProcessPoolExecutor(max_workers=jobs, initializer=_watch_parent,
                                   initargs=(os.getpid(),))
    else:
        pool = ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker,
                                   initargs=(config, rows.formats, read_options,
                                             frozenset(done), rows.context, os.getpid()))
    try:
        with pool:
            for unit in units:
                pending.append(pool.submit(_score_in_worker, unit, spill_dir))
                while len(pending) >= window:
                    yield pending.pop(0).result()
            for fut in pending:
                yield fut.result()
    finally:
        _WORKER_ANALYZER = _WORKER_ROWS = None
        _WORKER_READ, _WORKER_DONE = {}, frozenset()


# ------------------------------------------------------------------------------ writing


class _AtomicFile:
    """Write to ``path.tmp-<pid>`` and rename into place on success."""

    def __init__(self, path: Path, mode: str = "w", **kwargs: Any) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        self.fh = open(self.tmp, mode, **kwargs)  # noqa: SIM115

    def __enter__(self) -> Any:
        return self.fh

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            self.fh.close()  # flushes: a full disk may fail here
            if exc_type is None:
                os.replace(self.tmp, self.path)
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            raise
        if exc_type is not None:
            self.tmp.unlink(missing_ok=True)


def remove_stale_files(out: Path) -> list[Path]:
    """Remove what an interrupted run (kill -9, a power cut) left behind in ``out``: the
    temporary files of outputs being written and the workers' part files. The records file
    stays: ``--resume`` continues from it."""
    removed: list[Path] = []
    if not out.is_dir():
        return removed
    names = ("scores.", "findings.", "errors.", "turns.", "report.")
    for p in out.iterdir():
        n = p.name
        temporary = n.startswith(".") and (".tmp-" in n or n.endswith(".tmp"))
        if temporary and n[1:].startswith(names) and p.is_file():
            p.unlink(missing_ok=True)
            removed.append(p)
    work = out / WORK_DIR
    if work.is_dir():  # run.json, errors.jsonl, reviewed.jsonl being written
        for p in work.iterdir():
            if p.name.startswith(".") and ".tmp-" in p.name and p.is_file():
                p.unlink(missing_ok=True)
                removed.append(p)
    parts = work / "parts"
    if parts.is_dir():
        shutil.rmtree(parts, ignore_errors=True)
        removed.append(parts)
    return removed


class _Sink:
    """One csv/jsonl table written row by row as results arrive, renamed into place on
    commit (or removed on abort)."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = path
        self.csv = path.suffix == ".csv"
        self.atomic = _AtomicFile(path, "wb")
        self.fh = self.atomic.fh
        if self.csv:
            header = io.StringIO()
            csv.DictWriter(header, fieldnames=list(columns)).writeheader()
            # UTF-8 with a BOM, so Excel opens Chinese text correctly when a QA lead
            # double-clicks the file
            self.fh.write(codecs.BOM_UTF8 + header.getvalue().encode("utf-8"))

    def write(self, data: bytes) -> None:
        """Rows already formatted for this table and encoded (see ``_Rows.chunk``)."""
        self.fh.write(data)

    def append_file(self, path: str) -> None:
        """Rows a worker wrote to ``path`` (removed once copied)."""
        _append_file(self.fh, path)

    def commit(self) -> Path:
        self.atomic.__exit__(None, None, None)
        return self.path

    def abort(self) -> None:
        self.atomic.__exit__(RuntimeError, None, None)


def _abort(sinks: Mapping[str, tuple[_Sink, ...]]) -> None:
    for pair in sinks.values():
        for sink in pair:
            with contextlib.suppress(OSError):  # the temporary file is gone all the same
                sink.abort()


def _append_file(fh: Any, path: str) -> None:
    """Append the file a worker left to an open binary file, then remove it."""
    with open(path, "rb") as src:
        shutil.copyfileobj(src, fh, 1 << 20)
    os.remove(path)


def _score_columns(policy: Any) -> list[str]:
    return ["id", "score", "grade", "vetoed", "policy", "n_findings", "n_banned",
            "failed_rules", "deduction", "agent_id", "domain", "channel", "source", "format",
            "layout", "role_confidence", *[f"rule_{r}" for r in policy.rule_ids]]


def _rules_by_category(policy: Any) -> dict[str, list[str]]:
    """The rules a finding counts against, by its category: the phrase rules (forbid,
    require, context, compositions) for a lexicon finding, under ``"classifier:LABEL"`` the
    classifier rules for a tone-model finding (a lexicon hit in category ``rude`` is not a
    ``rude_reply`` and a tone verdict is not a banned phrase)."""
    out: dict[str, list[str]] = {}
    for r in policy.rules:
        for cat in r.categories():
            out.setdefault(cat, []).append(r.id)
        if r.kind == "classifier":
            out.setdefault(f"classifier:{r.spec['label']}", []).append(r.id)
    return out


def _finding_rows(c: Conversation, s: ConversationScore, rules_by_cat: dict[str, list[str]],
                  bases: Any, redact: Callable[[str], str], context: int = CONTEXT_CHARS
                  ) -> Iterator[dict[str, Any]]:
    turns = {t.index: t for t in c.turns}
    redacted: dict[int, str] = {}
    for f in s.findings:
        turn = turns.get(f.turn) if f.turn is not None else None
        if turn is not None and turn.index not in redacted:
            redacted[turn.index] = redact(turn.text)
        turn_text = redacted[turn.index] if turn is not None else None
        if turn_text is not None:
            # cut the finding and its context from the redacted turn, so that
            # text == context[start - context_start:end - context_start] holds
            text = turn_text[f.start:f.end]
            cstart = max(0, f.start - context)
            ctext: str | None = turn_text[cstart:f.end + context]
        else:
            text, cstart, ctext = redact(f.text), f.start, None
        basis = bases.get(f.basis) if f.basis else None
        yield {
            "conversation_id": s.id, "turn": f.turn, "role": f.role, "start": f.start,
            "end": f.end, "text": text, "context": ctext,
            "context_start": None if ctext is None else cstart,
            "code": f.code, "category": f.category, "kind": f.kind, "severity": f.severity,
            "source": f.source, "score": f.score, "phrase": f.phrase,
            "suggestion": f.suggestion,
            "rules": ",".join(rules_by_cat.get(
                f"classifier:{f.category}" if f.source == "classifier" else f.category, [])),
            "basis": f.basis, "basis_text": None if basis is None else basis.text,
            "explanation": f.explanation,
        }


def _write_table(path_base: Path, fmt: str, columns: Sequence[str],
                 rows: Callable[[], Iterable[dict[str, Any]]]) -> Path:
    path = path_base.with_suffix(f".{fmt}")
    if fmt == "csv":
        from .reports.csvsafe import neutralise_row

        # utf-8-sig so Excel opens Chinese text correctly when a QA lead double-clicks it
        with _AtomicFile(path, "w", encoding="utf-8-sig", newline="",
                         errors=encode_errors()) as fh:
            w = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
            w.writeheader()
            for r in rows():
                w.writerow(neutralise_row(r))
    elif fmt == "jsonl":
        with _AtomicFile(path, "w", encoding="utf-8", errors=encode_errors()) as fh:
            for r in rows():
                fh.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
    elif fmt == "parquet":
        _write_parquet(path, columns, rows())
    else:
        raise ValueError(f"unknown table format {fmt!r}")
    return path


# Parquet column types; every other column is text
_PARQUET_TYPES = {"score": "float64", "deduction": "float64", "vetoed": "bool_",
                  "n_findings": "int64", "n_banned": "int64", "turn": "int64", "line": "int64",
                  "context_start": "int64"}
_PARQUET_BATCH = 20_000


def _write_parquet(path: Path, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
    """Rows to a Parquet file in batches of row groups, so memory does not grow with the
    table. ``start``/``end`` are offsets (int) in findings and times (float) in turns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    times = "speaker" in columns  # the turns table
    types = {**_PARQUET_TYPES, "start": "float64" if times else "int64",
             "end": "float64" if times else "int64"}
    schema = pa.schema([(c, getattr(pa, types.get(c, "string"))()) for c in columns])

    def batch(chunk: list[dict[str, Any]]) -> Any:
        arrays = []
        for c in columns:
            values = [r.get(c) for r in chunk]
            if types.get(c, "string") == "string":
                values = [None if v is None else str(v) for v in values]
            arrays.append(pa.array(values, type=schema.field(c).type))
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    with _AtomicFile(path, "wb") as fh:
        writer = pq.ParquetWriter(fh, schema)
        try:
            wrote = False
            for chunk in _chunks(rows, _PARQUET_BATCH):
                writer.write_batch(batch(chunk))
                wrote = True
            if not wrote:
                writer.write_table(schema.empty_table())
        finally:
            writer.close()


def _read_records(path: Path) -> Iterator[tuple[Conversation, ConversationScore]]:
    for c, s, _ in _read_keyed_records(path):
        yield c, s


def _read_keyed_records(path: Path | str, data: bytes | None = None
                        ) -> Iterator[tuple[Conversation, ConversationScore, Key]]:
    """The records of ``path`` (or of ``data``, records lines), each with its input key."""
    if data is None and not os.path.exists(path):
        return
    with (io.BytesIO(data) if data is not None else open(path, "rb")) as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue  # a line cut short by an interrupted run
            c, s = conversation_from_dict(rec["c"]), score_from_dict(rec["s"])
            k = rec.get("k")
            yield c, s, (k[0], k[1]) if k else _key(c)


def _completed(path: Path) -> set[Key]:
    """Input keys of the conversations already scored in ``path``; a trailing partial line
    is cut off."""
    keys: set[Key] = set()
    if not path.exists():
        return keys
    good = 0
    with open(path, "rb") as fh:
        for raw in fh:
            try:
                rec = json.loads(raw)
                k = rec.get("k")
                c = rec["c"]
                keys.add((k[0], k[1]) if k else (
                    None if c["metadata"].get("source") is None
                    else str(c["metadata"]["source"]), str(c["id"])))
            except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
                break
            good += len(raw)
    with open(path, "r+b") as fh:
        fh.truncate(good)
    return keys


class _Ids:
    """Keeps conversation ids unique within a run: a conversation whose id was already
    scored (the same id in another input file, say) is scored as ``ID@SOURCE`` (then
    ``#2``, ``#3`` …) and reported. Runs in the parent, in input order, so ``--jobs`` and
    ``--resume`` give the same ids."""

    def __init__(self) -> None:
        self.seen: dict[str, str | None] = {}  # id -> the source it came from
        self.notes: list[ReadError] = []

    def fresh(self, summaries: Sequence[Summary]) -> bool:
        """True (and the ids taken) when none of these ids was seen before."""
        ids = [s[0] for s in summaries]
        if any(i in self.seen for i in ids) or len(set(ids)) != len(ids):
            return False
        for s in summaries:
            self.seen[s[0]] = s[5]
        return True

    def take(self, c: Conversation, s: ConversationScore, key: Key | None = None
             ) -> tuple[Conversation, ConversationScore, Key | None]:
        """The conversation under a unique id, and its input key if the id changed.
        ``key`` is the input key of a record already renamed (replayed by --resume)."""
        source = c.metadata.get("source")
        src = None if source is None else str(source)
        original = key[1] if key is not None else c.id
        if key is not None and key[1] != c.id:  # renamed by an earlier run
            self._note(c, original, c.id, src)
            self.seen[c.id] = src
            return c, s, key
        if c.id not in self.seen:
            self.seen[c.id] = src
            return c, s, None
        base = f"{c.id}@{src}" if src else f"{c.id}@input"
        new, n = base, 1
        while new in self.seen:
            n += 1
            new = f"{base}#{n}"
        self._note(c, original, new, src)
        self.seen[new] = src
        return (Conversation(new, c.turns, c.metadata), dataclasses.replace(s, id=new),
                (src, original))

    def _note(self, c: Conversation, original: str, new: str, src: str | None) -> None:
        first = self.seen.get(original)
        line = c.turns[0].line if c.turns else None
        self.notes.append(ReadError(
            src or "<input>", line, f"duplicate conversation id {original!r} (first from "
            f"{first or 'an earlier input'}); scored as {new!r}", new))


# ---------------------------------------------------------------------------------- run


def auto_jobs(files: Sequence[str | os.PathLike[str]], *, stdin: bool = False,
              cpus: int | None = None) -> int:
    """How many processes to score ``files`` in when the caller leaves it to us: one per
    CPU, but one (no worker processes at all) for inputs under :data:`AUTO_JOBS_MIN_BYTES`
    in all, too small to gain from workers. Input from a stream (``stdin``) has no size to
    go by: one per CPU."""
    cpus = cpus or os.cpu_count() or 1
    if stdin or cpus == 1:
        return cpus
    total = 0
    for path in files:
        try:
            total += os.path.getsize(path)
        except OSError:
            continue  # the reader reports it
        if total >= AUTO_JOBS_MIN_BYTES:
            return cpus
    return 1


def run_batch(
    conversations: Iterable[Conversation],
    out_dir: str | os.PathLike[str],
    *,
    files: Sequence[str | os.PathLike[str]] = (),
    read_options: Mapping[str, Any] | None = None,
    config: BatchConfig | None = None,
    formats: Sequence[str] = ("csv", "xlsx", "html"),
    jobs: int = 1,
    resume: bool = False,
    redact: Any = True,
    fail_under: float | None = None,
    errors: Callable[[], Sequence[ReadError]] = lambda: (),
    on_scored: Callable[[int, int], None] | None = None,
    analyzer: Any = None,
    context: int = CONTEXT_CHARS,
    turns: bool = False,
    lang: str = "zh",
) -> BatchResult:
    """Score the conversations of ``files`` (read with ``read_options``, the keyword
    arguments of :func:`~phrasecheck.readers.read_conversations`), then ``conversations``,
    into ``out_dir``, and write the requested outputs.

    With ``jobs > 1`` each worker reads the files it scores (files up to
    ``FILE_TASK_MAX_BYTES``; bigger ones are read here and sent in chunks), so reading runs
    in parallel too. ``errors`` returns read errors collected elsewhere (called at the end;
    those of ``files`` are collected here). ``on_scored(n, files_done)`` is called as
    results arrive: ``n`` conversations more, ``files_done`` files finished so far.
    ``analyzer`` (the one that scores with ``jobs=1``, and whose policy, lexicon and bases
    the reports use) defaults to ``config.build()``; it must be built from ``config``.
    ``context`` is how many characters of the turn either side of a finding its row keeps;
    ``turns=True`` also writes each turn's whole text once, to ``turns.*`` (csv, jsonl and
    parquet formats). ``redact`` is what the outputs mask (``True``: numbers and e-mail
    addresses; or kinds such as ``"names,addresses"``, see
    :func:`~phrasecheck.reports.redact.redactor`); ``fail_under`` is also the reports' pass
    line; ``lang`` the language of the reports (``"zh"`` or ``"en"``).
    """
    if context < 0:
        raise ValueError(f"context={context}: expected a number of characters >= 0")
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r} (available: {', '.join(FORMATS)})")
    config = config or BatchConfig()
    out = Path(out_dir)
    work = out / WORK_DIR
    work.mkdir(parents=True, exist_ok=True)
    remove_stale_files(out)
    records_path = work / "records.jsonl"
    parts = work / "parts"  # where workers leave the text of whole files for the parent
    result = BatchResult(out_dir=out)
    started = time.perf_counter()

    done = _completed(records_path) if resume else set()
    if not resume and records_path.exists():
        records_path.unlink()
    result.resumed = len(done)

    options = dict(read_options or {})

    def todo(convs: Iterable[Conversation]) -> Iterator[Conversation]:
        for c in convs:
            if _key(c) not in done:
                yield c

    from .readers.inputs import txt_ids

    default_ids = txt_ids(files)  # txt files whose stems collide get longer ids

    def units() -> Iterator[_Unit]:
        for path in files:
            default_id = default_ids.get(os.fspath(path))
            try:
                small = os.path.getsize(path) <= FILE_TASK_MAX_BYTES
            except OSError:  # gone since it was listed: the reader reports it
                small = False
            if jobs > 1 and small:
                yield ("file", os.fspath(path), default_id)
                continue
            # read here, streamed: each chunk carries the read errors met before it
            errs: list[ReadError] = []
            reader = _read_one(path, default_id, options, errs.append)
            for part in _chunks(todo(reader), CHUNK):
                met, errs[:] = list(errs), []
                yield ("convs", part, met, False)
            yield ("convs", [], list(errs), True)
        for part in _chunks(todo(conversations), CHUNK):
            yield ("convs", part, [], False)

    read_errors: list[ReadError] = []
    analyzer = analyzer if analyzer is not None else config.build()
    # scores.* and findings.* in csv/jsonl are written as results arrive (no pass afterwards)
    streamed = [f for f in formats if f in ("csv", "jsonl")]
    rows = _Rows(analyzer, redact, streamed, context)
    sinks: dict[str, tuple[_Sink, _Sink]] = {}
    opened: list[_Sink] = []
    try:
        for f in streamed:
            for name, columns in (("scores", rows.score_columns),
                                  ("findings", FINDING_OUT_COLUMNS)):
                opened.append(_Sink(out / f"{name}.{f}", columns))
            sinks[f] = (opened[-2], opened[-1])
    except BaseException:
        _abort({"": tuple(opened)})
        raise

    def emit(chunk: _Chunk) -> None:
        for fmt, (score_text, finding_text) in chunk.tables.items():
            if chunk.spilled is not None:
                sinks[fmt][0].append_file(f"{chunk.spilled}.{fmt}.scores")
                sinks[fmt][1].append_file(f"{chunk.spilled}.{fmt}.findings")
            else:
                sinks[fmt][0].write(score_text)
                sinks[fmt][1].write(finding_text)
        # the summary is kept as rows arrive: no second pass over the records file
        for cid, value, grade, vetoed, failed, _ in chunk.summaries:
            result.scores.append(value)
            result.grades[grade] += 1
            result.vetoed += vetoed
            result.violations.update(failed)
            if fail_under is not None and value < fail_under:
                result.below.append(cid)

    ids = _Ids()

    def unique(chunk: _Chunk) -> _Chunk:
        """The chunk, with the conversations whose id was already scored renamed (a rare
        path: the text is made again from the chunk's records)."""
        if ids.fresh(chunk.summaries):
            return chunk
        if chunk.spilled is not None:
            with open(chunk.spilled + ".records", "rb") as fh:
                data = fh.read()
            for name in [".records", *(f".{f}.{t}" for f in chunk.tables
                                       for t in ("scores", "findings"))]:
                os.remove(chunk.spilled + name)
        else:
            data = chunk.records
        pairs, keys = [], {}
        for c, s, _ in _read_keyed_records("", data):
            c, s, key = ids.take(c, s)
            if key is not None:
                keys[c.id] = key
            pairs.append((c, s))
        out = rows.chunk(pairs, keys=keys)
        out.errors, out.file_done = chunk.errors, chunk.file_done
        return out

    try:
        if done:  # rows and summary of the conversations an earlier run scored
            replayed = (ids.take(c, s, k)[:2] for c, s, k in _read_keyed_records(records_path))
            for part in _chunks(replayed, 256):
                emit(rows.chunk(part, records=False))
        files_done = 0
        parts.mkdir(exist_ok=True)
        with open(records_path, "ab") as rec:
            for chunk in _score_stream(units(), config, jobs, analyzer, rows, options, done,
                                       spill_dir=str(parts)):
                chunk = unique(chunk)
                if chunk.spilled is not None:
                    _append_file(rec, chunk.spilled + ".records")
                rec.write(chunk.records)
                rec.flush()  # what an interruption loses, --resume scores again
                emit(chunk)
                read_errors += chunk.errors
                result.scored += len(chunk.summaries)
                result.chars += chunk.chars
                files_done += chunk.file_done
                if on_scored is not None:
                    on_scored(len(chunk.summaries), files_done)
    except BaseException:
        _abort(sinks)
        raise
    finally:
        shutil.rmtree(parts, ignore_errors=True)
    for pair in sinks.values():
        for sink in pair:
            result.outputs.append(sink.commit())

    # duplicate ids last, in input order, so a resumed run lists them as a whole one does
    result.errors = [*read_errors, *ids.notes, *errors()]
    _write_run_config(work, config, analyzer, formats, redact, fail_under, lang, context,
                      turns, result.errors)
    result.outputs += write_outputs(out, records_path, result, analyzer, formats, redact,
                                    streamed=streamed, context=context, turns=turns,
                                    fail_under=fail_under, lang=lang)
    result.seconds = time.perf_counter() - started
    return result


def _write_run_config(work: Path, config: BatchConfig, analyzer: Any, formats: Sequence[str],
                      redact: Any, fail_under: float | None, lang: str, context: int,
                      turns: bool, errors: Sequence[ReadError]) -> None:
    """What ``phrasecheck review apply`` needs to write this run's outputs again:
    ``run.json`` (the options) and ``errors.jsonl`` (the read errors)."""
    from .reports.redact import redactor

    policy = config.policy
    if isinstance(policy, (str, os.PathLike)):
        ref = os.fspath(policy)
        if os.path.sep in ref or ref.endswith((".yaml", ".yml", ".toml")):
            ref = os.path.abspath(ref)
    else:  # a Policy object: the file it came from
        sources = getattr(analyzer.policy, "sources", ())
        ref = str(sources[0]) if sources else analyzer.policy.name
    red = redactor(redact)
    data = {"format": "phrasecheck-run", "version": 1, "policy": ref,
            "lexicons": [os.path.abspath(p) for p in config.lexicons],
            "default_lexicon": config.default_lexicon, "formats": list(formats),
            "redact": None if red is None else list(red.kinds), "fail_under": fail_under,
            "lang": lang, "context": context, "turns": turns}
    with _AtomicFile(work / "run.json", "w", encoding="utf-8") as fh:
        fh.write(json.dumps(data, ensure_ascii=False, indent=1) + "\n")
    with _AtomicFile(work / "errors.jsonl", "w", encoding="utf-8",
                     errors=encode_errors()) as fh:
        for e in errors:
            fh.write(json.dumps(e.to_dict(), ensure_ascii=False) + "\n")


def _redactor(spec: Any) -> Callable[[str], str]:
    from .reports.redact import redactor

    red = redactor(spec)
    return (lambda s: s) if red is None else red


def write_outputs(out: Path, records_path: Path, result: BatchResult, analyzer: Any,
                  formats: Sequence[str], redact: Any, streamed: Sequence[str] = (),
                  context: int = CONTEXT_CHARS, turns: bool = False,
                  fail_under: float | None = None, lang: str = "zh",
                  verdicts: Mapping[Any, Any] | None = None,
                  original: Mapping[str, tuple[float, str]] | None = None) -> list[Path]:
    """Write the outputs from the records file; ``streamed`` formats already have their
    scores and findings tables (written while scoring) and only get the errors table (and
    the turns table with ``turns=True``). ``verdicts`` (review key -> verdict) and
    ``original`` (id -> score and grade before review) are those of a reviewed run
    (:mod:`phrasecheck.review`): the reports show them."""
    written: list[Path] = []
    policy, lexicon = analyzer.policy, analyzer.lexicon
    rules_by_cat = _rules_by_category(policy)
    red = _redactor(redact)
    score_cols = _score_columns(policy)

    def score_rows() -> Iterator[dict[str, Any]]:
        for _, s in _read_records(records_path):
            yield score_row(s)

    def finding_rows() -> Iterator[dict[str, Any]]:
        for c, s in _read_records(records_path):
            yield from _finding_rows(c, s, rules_by_cat, lexicon.bases, red, context)

    def category_title(code: str) -> str:
        cat = lexicon.categories.get(code)
        return code if cat is None or not cat.title else (
            cat.title if lang == "zh" else f"{code} ({cat.title})")

    def violation_rows() -> Iterator[dict[str, Any]]:
        from .reports.rows import violation_rows as rows

        for c, s in _read_records(records_path):
            yield from rows(c, s, _finding_rows(c, s, rules_by_cat, lexicon.bases, red,
                                                context),
                            lexicon.bases, red, lang, category_title, verdicts)

    def rule_rows() -> Iterator[dict[str, Any]]:
        from .reports.rows import rule_evidence_rows

        for _, s in _read_records(records_path):
            yield from rule_evidence_rows(s, red, lang, category_title)

    def turn_rows() -> Iterator[dict[str, Any]]:
        for c, _ in _read_records(records_path):
            for t in c.turns:
                yield {"conversation_id": c.id, "turn": t.index, "role": t.role,
                       "speaker": t.speaker, "start": t.start, "end": t.end, "line": t.line,
                       "text": red(t.text)}

    def error_rows() -> Iterator[dict[str, Any]]:
        for e in result.errors:
            yield {"path": e.path, "line": e.line, "conversation_id": e.conversation_id,
                   "reason": e.reason}

    for fmt in formats:
        if fmt in ("csv", "jsonl", "parquet"):
            if fmt not in streamed:
                written.append(_write_table(out / "scores", fmt, score_cols, score_rows))
                written.append(_write_table(out / "findings", fmt, FINDING_OUT_COLUMNS,
                                            finding_rows))
            written.append(_write_table(out / "errors", fmt, ERROR_COLUMNS, error_rows))
            if turns:
                written.append(_write_table(out / "turns", fmt, TURN_COLUMNS, turn_rows))
    if "xlsx" in formats:
        from .reports.excel import VIOLATION_COLUMNS, RowTable, write_xlsx_report
        from .reports.rows import RULE_EVIDENCE_COLUMNS

        def table(columns: Sequence[str], rows: Callable[[], Iterable[dict[str, Any]]]
                  ) -> RowTable:
            return RowTable(columns, lambda: (tuple(r.get(c) for c in columns) for r in rows()))

        path = out / "report.xlsx"
        # streamed from the records file (memory does not grow with the batch); the texts in
        # finding_rows are already redacted
        xlsx_scores = score_cols
        if original:
            xlsx_scores = [*score_cols[:3], "score_before", "grade_before", *score_cols[3:]]
        write_xlsx_report(path, table(xlsx_scores, _with_before(score_rows, original)),
                          table(FINDING_OUT_COLUMNS, finding_rows),
                          table(ERROR_COLUMNS, error_rows),
                          summary_dict(result, policy, fail_under), redact=False,
                          fail_under=fail_under, policy=policy, lang=lang,
                          violations=table(VIOLATION_COLUMNS, violation_rows),
                          rule_evidence=table(RULE_EVIDENCE_COLUMNS, rule_rows))
        written.append(path)
    if "html" in formats:
        from .reports.html import write_html_report

        path = out / "report.html"
        # past a few thousand conversations, detail sections only for the failed ones
        sections: Literal["all", "failed"] = (
            "all" if result.total <= HTML_ALL_SECTIONS else "failed")
        write_html_report(path, lambda: _read_records(records_path), errors=result.errors,
                          policy=policy, lexicon=lexicon, redact=red if redact else False,
                          sections=sections, fail_under=fail_under, lang=lang,
                          verdicts=list((verdicts or {}).values()), original_scores=original)
        written.append(path)
    return written


def _with_before(rows: Callable[[], Iterator[dict[str, Any]]],
                 original: Mapping[str, tuple[float, str]] | None
                 ) -> Callable[[], Iterator[dict[str, Any]]]:
    """Score rows with the score and grade before review, when a review was merged."""
    if not original:
        return rows

    def with_before() -> Iterator[dict[str, Any]]:
        for r in rows():
            before = original.get(r["id"])
            yield {**r, "score_before": None if before is None else before[0],
                   "grade_before": None if before is None else before[1]}

    return with_before


def summary_dict(result: BatchResult, policy: Any, fail_under: float | None = None
                 ) -> dict[str, Any]:
    from .reports.html import pass_line

    mean = result.mean_score
    line = pass_line(policy, fail_under)
    return {
        "policy": policy.name,
        "conversations scored": result.total,
        "errors": len(result.errors),
        "mean score": None if mean is None else round(mean, 2),
        "median score": round(statistics.median(result.scores), 2) if result.scores else None,
        "vetoed": result.vetoed,
        "pass line": line,
        **{f"grade {g}": n for g, n in sorted(result.grades.items())},
        **{f"violations of {r}": n for r, n in result.violations.most_common()},
    }
