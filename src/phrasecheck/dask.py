"""Scale out on Dask: score a Dask DataFrame of turns on a cluster.

    >>> import dask.dataframe as dd
    >>> from phrasecheck.dask import read_turns, score
    >>> turns = read_turns("s3://qa/calls/*.parquet", storage_options={"anon": False})
    >>> scores, findings = score(turns, policy="hotline")
    >>> scores, findings = dask.compute(scores, findings)   # or .to_parquet(...) both

The input has one row per turn (``conversation_id``, ``role``, ``text`` plus optional columns,
as for :func:`phrasecheck.readers.conversations_from_frame`). A conversation must never
straddle two partitions, so unless the frame is known to be partitioned by conversation (its
index is the id column with known divisions, or ``partitioned=True``) the rows are shuffled
by id first. Each row carries its original position through the shuffle and every partition
is sorted back into it, so the turns of a conversation keep their order even when they
arrived in several partitions.

The :class:`~phrasecheck.analyzer.Analyzer` is built once per worker process, from a
picklable :class:`~phrasecheck.batch.BatchConfig`, and cached in this module;
:func:`register_worker_analyzer` builds it on every worker (present and future) up front.

Nothing here runs at import: dask, distributed and pandas are imported inside functions, so
``import phrasecheck`` never imports dask. (This module is ``phrasecheck.dask``; the absolute
``import dask`` inside it is the real dask, as the package uses absolute imports.)
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import pickle
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .batch import BatchConfig

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd

    from .analyzer import Analyzer

__all__ = [
    "analyzer_builds",
    "read_turns",
    "register_worker_analyzer",
    "run_cli",
    "score",
    "worker_analyzer",
]

log = logging.getLogger(__name__)


def _module(name: str) -> Any:
    """Import a (partly typed) third-party module lazily, typed as Any."""
    return importlib.import_module(name)

#: Helper columns carried through the shuffle (dropped before the reader sees the rows).
ORDER = "__phrasecheck_order__"
KEY = "__phrasecheck_key__"
TURN_FORMATS = ("parquet", "csv", "jsonl")
_EXTENSIONS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "csv",
               ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
_COMPRESSED = (".gz", ".bz2", ".xz", ".zst")


# ---------------------------------------------------------------- one Analyzer per process

BUILDS = 0  # Analyzers built in this process (read it on workers with analyzer_builds())
_ANALYZERS: dict[Any, Analyzer] = {}
_LOCK = threading.Lock()


def _cache_key(config: BatchConfig) -> Any:
    try:
        hash(config)
    except TypeError:  # a Policy object or a model object: key on its pickle
        return pickle.dumps(config)
    return config


def worker_analyzer(config: BatchConfig) -> Analyzer:
    """The Analyzer for ``config`` in this process, built (and warmed) on first use only."""
    global BUILDS
    key = _cache_key(config)
    analyzer = _ANALYZERS.get(key)
    if analyzer is None:
        with _LOCK:  # several worker threads may ask at once: build exactly one
            analyzer = _ANALYZERS.get(key)
            if analyzer is None:
                analyzer = config.build().warm()
                _ANALYZERS[key] = analyzer
                BUILDS += 1
    return analyzer


def analyzer_builds() -> int:
    """How many Analyzers this process has built (``client.run(analyzer_builds)``)."""
    return BUILDS


def _make_plugin_class() -> type:
    from distributed import WorkerPlugin

    class AnalyzerPlugin(WorkerPlugin):
        """Builds the worker's Analyzer when the worker starts (and on restarted workers)."""

        def __init__(self, config: BatchConfig) -> None:
            self.config = config
            self.name = f"phrasecheck-analyzer-{abs(hash(pickle.dumps(config))):x}"

        async def setup(self, worker: Any) -> None:
            # loading lexicons and jieba takes seconds: keep the worker's event loop free
            await asyncio.get_running_loop().run_in_executor(
                None, worker_analyzer, self.config)

    AnalyzerPlugin.__module__ = __name__
    AnalyzerPlugin.__qualname__ = "AnalyzerPlugin"
    return AnalyzerPlugin


def __getattr__(name: str) -> Any:
    # AnalyzerPlugin subclasses distributed.WorkerPlugin, so it is made on first access (not
    # at import) and then lives here, where pickle finds it by name on the workers.
    if name == "AnalyzerPlugin":
        cls = _make_plugin_class()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _config(policy: Any, lexicons: Iterable[str | os.PathLike[str]], model: Any,
            default_lexicon: bool) -> BatchConfig:
    return BatchConfig(policy=policy, lexicons=tuple(os.fspath(p) for p in lexicons),
                       default_lexicon=default_lexicon, model=model)


def register_worker_analyzer(client: Any, *, policy: Any = "default",
                             lexicons: Sequence[str | os.PathLike[str]] = (),
                             model: Any = "default",
                             default_lexicon: bool = True) -> BatchConfig:
    """Build the Analyzer on every worker of ``client`` now, and on every worker that joins
    later (a ``distributed.WorkerPlugin``). :func:`score` with the same settings then finds it
    ready. Returns the config the workers cache it under."""
    config = _config(policy, lexicons, model, default_lexicon)
    plugin = __getattr__("AnalyzerPlugin")(config)
    client.register_plugin(plugin, name=plugin.name)
    return config


# ------------------------------------------------------------------------------ scoring


@dataclass(frozen=True)
class _Columns:
    id: str
    role: str
    text: str
    start: str | None
    end: str | None
    speaker: str | None
    turn: str | None
    metadata: tuple[str, ...] | None
    options: tuple[tuple[str, Any], ...]


def _metas(policy: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Empty frames with the columns and dtypes scores_frame/findings_frame give for
    ``policy`` (categoricals with unknown categories, as each partition has its own)."""
    import pandas as pd

    clear_known_categories = _module("dask.dataframe.utils").clear_known_categories

    from .frames import findings_frame, scores_frame
    from .policy import load_policy

    scores = scores_frame([])
    for rule_id in load_policy(policy).rule_ids:
        scores[f"rule_{rule_id}"] = pd.Series([], dtype="category", index=scores.index)
    return clear_known_categories(scores), clear_known_categories(findings_frame([]))


ERROR_COLUMNS = ("path", "line", "conversation_id", "reason")


def errors_meta() -> pd.DataFrame:
    """The columns and dtypes of the errors frame: one row per row or conversation of the
    input that could not be scored, and why."""
    import pandas as pd

    empty: pd.DataFrame = pd.DataFrame({"path": pd.Series([], dtype="string"),
                                        "line": pd.Series([], dtype="Int64"),
                                        "conversation_id": pd.Series([], dtype="string"),
                                        "reason": pd.Series([], dtype="string")})
    return empty


def _errors_frame(errors: Sequence[Any]) -> pd.DataFrame:
    import pandas as pd

    if not errors:
        return errors_meta()
    df = pd.DataFrame([(e.path, e.line, e.conversation_id, e.reason) for e in errors],
                      columns=list(ERROR_COLUMNS))
    for col, dtype in (("path", "string"), ("line", "Int64"), ("conversation_id", "string"),
                       ("reason", "string")):
        df[col] = df[col].astype(dtype)
    result: pd.DataFrame = df
    return result


def _conform(df: pd.DataFrame, meta: pd.DataFrame) -> pd.DataFrame:
    """``df`` with exactly ``meta``'s columns, in its order, with its dtypes."""
    if df.empty:
        none: pd.DataFrame = meta.iloc[:0].copy()
        return none
    out = df.reindex(columns=meta.columns)
    for col, dtype in meta.dtypes.items():
        if getattr(dtype, "name", None) == "category":
            if out[col].dtype.name != "category":
                out[col] = out[col].astype("category")
        elif out[col].dtype != dtype:
            out[col] = out[col].astype(dtype)
    result: pd.DataFrame = out.reset_index(drop=True)
    return result


def _score_partition(df: pd.DataFrame, config: BatchConfig, cols: _Columns,
                     scores_meta: pd.DataFrame, findings_meta: pd.DataFrame) -> pd.Series:
    """Score the conversations of one partition -> a one-item Series of (scores, findings,
    errors)."""
    import pandas as pd

    from .frames import findings_frame, scores_frame
    from .readers import conversations_from_frame

    if cols.id not in df.columns and df.index.name == cols.id:
        df = df.reset_index()
    if ORDER in df.columns:  # back into the original row order after the shuffle
        df = df.sort_values(ORDER, kind="stable")
    df = df.drop(columns=[c for c in (ORDER, KEY) if c in df.columns])
    errors: list[Any] = []
    convs = conversations_from_frame(
        df, id=cols.id, role=cols.role, text=cols.text, start=cols.start, end=cols.end,
        speaker=cols.speaker, turn=cols.turn, metadata=cols.metadata,
        on_error=errors.append, **dict(cols.options))
    analyzer = worker_analyzer(config)
    results = list(analyzer.score_many(convs))
    for e in errors:
        log.warning("phrasecheck.dask: skipped: %s", e)
    pair = (_conform(scores_frame(results), scores_meta),
            _conform(findings_frame(results), findings_meta), _errors_frame(errors))
    out = pd.Series([None], dtype=object)
    out.iloc[0] = pair
    return out


def _pick(part: pd.Series, which: int, meta: pd.DataFrame) -> pd.DataFrame:
    if len(part) == 0:
        result: pd.DataFrame = meta.iloc[:0].copy()
        return result
    frame: pd.DataFrame = part.iloc[0][which]
    return frame


def _with_order(df: pd.DataFrame, id_col: str, partition_info: Any = None) -> pd.DataFrame:
    """Add the global row position (partition number, row) and the normalised id."""
    import numpy as np

    from .readers._common import id_text

    number = int(partition_info["number"]) if partition_info else 0
    df = df.copy()
    df[ORDER] = (np.int64(number) << np.int64(32)) + np.arange(len(df), dtype="int64")
    df[KEY] = df[id_col].map(id_text).astype("string")
    return df


def _is_partitioned_by(ddf: dd.DataFrame, id_col: str) -> bool:
    return bool(ddf.index.name == id_col and ddf.known_divisions)


def score(
    ddf: dd.DataFrame,
    *,
    id: str = "conversation_id",
    role: str = "role",
    text: str = "text",
    start: str | None = None,
    end: str | None = None,
    speaker: str | None = None,
    turn: str | None = None,
    metadata: Sequence[str] | None = None,
    policy: Any = "default",
    lexicons: Sequence[str | os.PathLike[str]] = (),
    model: Any = "default",
    default_lexicon: bool = True,
    partitioned: bool | None = None,
    npartitions: int | None = None,
    shuffle_method: str | None = None,
    reader_options: Mapping[str, Any] | None = None,
    with_errors: bool = False,
) -> tuple[dd.DataFrame, ...]:
    """Score a Dask DataFrame of turns; returns lazy ``(scores, findings)`` Dask DataFrames.

    Their columns and dtypes are those of :func:`phrasecheck.frames.scores_frame` and
    :func:`~phrasecheck.frames.findings_frame` for ``policy`` (categoricals have unknown
    categories). Compute both in ONE call (``dask.compute(scores, findings)``, or
    ``to_parquet(..., compute=False)`` on both and one ``dask.compute``) so that every
    partition is scored once; rows come partition by partition, not in input order.

    ``id``, ``role``, ``text``, ``start``, ``end``, ``speaker``, ``turn``, ``metadata`` and
    ``reader_options`` (``role_map``, ``speaker_roles``, ``infer_roles``) are passed to
    :func:`~phrasecheck.readers.conversations_from_frame`. ``partitioned``: ``None`` shuffles
    by id unless the index is ``id`` with known divisions; ``True`` trusts that no conversation
    straddles partitions; ``False`` always shuffles. ``policy``, ``lexicons`` and ``model``
    must be loadable on the workers (preset names and the bundled model always are).

    ``with_errors=True`` returns ``(scores, findings, errors)``: ``errors`` has a row for
    every input row or conversation that could not be scored (no id, no text, no role, no
    turns), so that every conversation is either scored or listed; compute it in the same
    call. Without it, those are only logged on the workers.
    """
    if id not in ddf.columns and ddf.index.name != id:
        raise KeyError(f"no column {id!r} for id (columns: {', '.join(map(str, ddf.columns))})")
    config = _config(policy, lexicons, model, default_lexicon)
    scores_meta, findings_meta = _metas(policy)
    cols = _Columns(id, role, text, start, end, speaker, turn,
                    None if metadata is None else tuple(metadata),
                    tuple(sorted((reader_options or {}).items())))
    if partitioned is None:
        partitioned = _is_partitioned_by(ddf, id)
    import pandas as pd

    frame: Any = ddf
    if not partitioned:
        if id not in frame.columns:
            frame = frame.reset_index()
        meta = frame._meta.iloc[:0].copy()
        meta[ORDER] = pd.Series(dtype="int64", index=meta.index)
        meta[KEY] = pd.Series(dtype="string", index=meta.index)
        frame = frame.map_partitions(_with_order, id, meta=meta)
        frame = frame.shuffle(on=KEY, npartitions=npartitions, shuffle_method=shuffle_method)
    both = frame.map_partitions(_score_partition, config, cols, scores_meta, findings_meta,
                                meta=pd.Series([], dtype=object), enforce_metadata=False)
    scores = both.map_partitions(_pick, 0, scores_meta, meta=scores_meta,
                                 enforce_metadata=False)
    findings = both.map_partitions(_pick, 1, findings_meta, meta=findings_meta,
                                   enforce_metadata=False)
    if with_errors:
        emeta = errors_meta()
        errors = both.map_partitions(_pick, 2, emeta, meta=emeta, enforce_metadata=False)
        return scores, findings, errors
    return scores, findings


# ------------------------------------------------------------------------------ reading


def _format_of(name: str) -> str | None:
    lower = name.lower()
    for ext in _COMPRESSED:
        if lower.endswith(ext):
            lower = lower[: -len(ext)]
    return _EXTENSIONS.get(os.path.splitext(lower)[1])


def _resolve(path: str, format: str | None, storage_options: Mapping[str, Any] | None
             ) -> tuple[str | list[str], str]:
    """The path(s) to hand to dask and the format, looking inside a folder if needed."""
    fmt = format.lower() if format else _format_of(path.rstrip("/"))
    if fmt is not None and fmt not in TURN_FORMATS:
        raise ValueError(f"unknown turns format {format!r} (available: "
                         f"{', '.join(TURN_FORMATS)})")
    if any(ch in path for ch in "*?["):
        if fmt is None:
            raise ValueError(f"{path}: cannot tell the format from the pattern; pass format=")
        return path, fmt
    from fsspec.core import url_to_fs

    fs, root = url_to_fs(path, **dict(storage_options or {}))
    if not fs.exists(root):
        raise FileNotFoundError(f"no such input: {path}")
    if not fs.isdir(root):
        if fmt is None:
            raise ValueError(f"{path}: unknown file type (expected .parquet, .csv or .jsonl, "
                             "or pass format=)")
        return path, fmt
    names = sorted(p for p in fs.find(root) if not any(
        part.startswith((".", "_")) for part in p[len(root.rstrip("/")):].split("/")))
    found = {f for f in map(_format_of, names) if f is not None}
    if fmt is None:
        if len(found) != 1:
            raise ValueError(f"{path}: found {', '.join(sorted(found)) or 'no'} turn files; "
                             "pass format= (parquet, csv or jsonl)")
        fmt = found.pop()
    if fmt == "parquet":
        return path, fmt  # a Parquet dataset: let the engine read its layout
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    files = [n if protocol in ("file", "local") else f"{protocol}://{n}"
             for n in names if _format_of(n) == fmt]
    if not files:
        raise FileNotFoundError(f"no {fmt} files in {path}")
    return files, fmt


def read_turns(path_or_url: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
               format: str | None = None, **kw: Any) -> dd.DataFrame:
    """A Dask DataFrame of turns from Parquet, CSV or JSONL files, a folder or dataset of them,
    or a glob, on a local disk or any fsspec URL (``s3://``, ``gs://``, ``abfs://``, ...).

    ``format`` (``parquet``/``csv``/``jsonl``) defaults to the file extension (``.gz`` etc.
    are seen through). JSONL has one message per line (``conversation_id``, ``role``,
    ``text``...). CSV cells are read as text, like the local CSV reader does. Other keyword
    arguments (``storage_options=``, ``columns=``, ``blocksize=`` ...) go to the dask reader.
    """
    ddm = _module("dask.dataframe")
    paths = ([path_or_url] if isinstance(path_or_url, str | os.PathLike) else list(path_or_url))
    if not paths:
        raise ValueError("read_turns: no input")
    storage_options = kw.get("storage_options")
    resolved = [_resolve(os.fspath(p), format, storage_options) for p in paths]
    frames = []
    for target, fmt in resolved:
        if fmt == "parquet":
            frames.append(ddm.read_parquet(target, **kw))
        elif fmt == "csv":
            opts = {"dtype": "string", "keep_default_na": False, "na_values": [""],
                    "blocksize": "64MB", **kw}
            if isinstance(target, str) and target.lower().endswith(_COMPRESSED):
                opts.setdefault("compression", "infer")
                opts["blocksize"] = None  # compressed files cannot be split
            frames.append(ddm.read_csv(target, **opts))
        else:
            opts = {"lines": True, "orient": "records", "dtype": False,
                    "blocksize": 2**26, **kw}
            compressed = any(str(t).lower().endswith(_COMPRESSED)
                             for t in ([target] if isinstance(target, str) else target))
            if compressed:
                opts["blocksize"] = None
            frames.append(ddm.read_json(target, **opts))
    return frames[0] if len(frames) == 1 else ddm.concat(frames)  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------- CLI


def _client(scheduler: str | None, jobs: int) -> tuple[Any, Any]:
    distributed = _module("distributed")
    Client, LocalCluster = distributed.Client, distributed.LocalCluster
    if scheduler:
        return Client(scheduler), None
    n = jobs if jobs > 0 else (os.cpu_count() or 1)
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    return Client(cluster), cluster


def _remove_file(path: str) -> None:
    """An earlier local-engine run may have left a single file where the dataset goes."""
    p = Path(path)
    if "://" not in path and p.is_file():
        p.unlink()


def _redact_text(part: pd.DataFrame) -> pd.DataFrame:
    from .reports.redact import redact

    part = part.copy()
    dtype = part["text"].dtype
    missing = getattr(dtype, "na_value", None)

    def one(s: Any) -> Any:
        return s if s is None or s is missing or not isinstance(s, str) else redact(s)

    part["text"] = part["text"].map(one).astype(dtype)
    return part


def run_cli(inputs: Sequence[str], *, out: str | os.PathLike[str], scheduler: str | None = None,
            jobs: int = 0, policy: Any = "default", lexicons: Sequence[str] = (),
            default_lexicon: bool = True, model: Any = "default", redact: bool = True,
            fail_under: float | None = None, quiet: bool = False) -> int:
    """``phrasecheck score INPUT... --engine dask``: read turn datasets, score them on
    ``scheduler`` (or a LocalCluster of ``jobs`` worker processes) and write
    ``OUT/scores.parquet``, ``OUT/findings.parquet`` and ``OUT/errors.parquet`` (rows and
    conversations that could not be scored; Parquet datasets, written by the
    workers: on a real cluster ``--out`` must be shared storage or an fsspec URL).
    Returns the exit code: 0, 1 if a conversation scored below ``fail_under``, 2 on bad input.
    """
    from rich.console import Console
    from rich.markup import escape

    dask = _module("dask")

    err = Console(stderr=True, highlight=False)
    console = Console(highlight=False)
    started = time.perf_counter()
    scores: Any
    findings: Any
    if "-" in inputs:
        err.print("[bold red]error:[/] --engine dask cannot read stdin; pass files or URLs",
                  soft_wrap=True)
        return 2
    try:
        turns = read_turns(list(inputs))
        from .errors import PhrasecheckError

        try:
            scores, findings, errors = score(turns, policy=policy, lexicons=lexicons,
                                             model=model, default_lexicon=default_lexicon,
                                             with_errors=True)
        except PhrasecheckError as exc:
            raise ValueError(str(exc)) from None
    except (FileNotFoundError, ValueError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        err.print(f"[bold red]error:[/] {escape(str(msg))}", soft_wrap=True)
        return 2
    if redact:
        findings = findings.map_partitions(_redact_text, meta=findings._meta)
    out_dir = os.fspath(out)
    if "://" not in out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    targets = [f"{out_dir.rstrip('/')}/{name}.parquet"
               for name in ("scores", "findings", "errors")]
    for t in targets:
        _remove_file(t)
    client, cluster = _client(scheduler, jobs)
    try:
        register_worker_analyzer(client, policy=policy, lexicons=lexicons, model=model,
                                 default_lexicon=default_lexicon)
        writes = [frame.to_parquet(t, write_index=False, overwrite=True, compute=False)
                  for frame, t in zip((scores, findings, errors), targets)]
        below = ((scores["score"] < fail_under).sum() if fail_under is not None
                 else scores["score"].size * 0)
        _, _, _, n, mean, grades, vetoed, n_below, n_errors = dask.compute(
            *writes, scores["score"].count(), scores["score"].mean(),
            scores["grade"].astype("string").value_counts(), scores["vetoed"].sum(), below,
            errors["reason"].count())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    if not quiet:
        console.print(f"phrasecheck · dask · policy {_metas_policy_name(policy)}: "
                      f"{int(n)} conversations scored in {time.perf_counter() - started:.1f} s"
                      + ("" if not n else f", mean score {float(mean):.1f}, "
                         f"vetoed {int(vetoed)}; grades "
                         + "  ".join(f"{g} {c}" for g, c in sorted(grades.items())))
                      + f"; {int(n_errors)} input problem(s) in errors.parquet",
                      soft_wrap=True, markup=False)
        for t in targets:
            console.print(f"wrote {t}", soft_wrap=True, markup=False)
    if fail_under is not None and int(n_below):
        if not quiet:
            console.print(f"{int(n_below)} conversation(s) below --fail-under", markup=False)
        return 1
    return 0


def _metas_policy_name(policy: Any) -> str:
    from .policy import load_policy

    return str(load_policy(policy).name)
