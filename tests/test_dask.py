"""phrasecheck.dask on a real distributed.LocalCluster (2 worker processes, 1 thread each).

The reference is always the local engine: ``Analyzer.score`` over ``conversations_from_frame``
of the same rows, in one process. Results must be identical whatever the partitioning, and
after a worker process is killed mid-run.
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

pd = pytest.importorskip("pandas")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from phrasecheck import Analyzer  # noqa: E402
from phrasecheck import dask as pcd  # noqa: E402
from phrasecheck.frames import findings_frame, scores_frame  # noqa: E402
from phrasecheck.readers import conversations_from_frame, read_conversations  # noqa: E402

DEMO = Path(__file__).resolve().parents[1] / "corpora" / "demo"
MODEL = "default"  # the bundled tone model when shipped; no classifier when it is not
META = ("domain", "channel", "agent_id")


def turn_rows(copies: int = 1) -> Any:
    """The demo corpus as a DataFrame of turns; copies > 1 repeat it with unique ids."""
    convs = list(read_conversations(DEMO))
    rows = [{"conversation_id": c.id if copies == 1 else f"{c.id}#{k}", "role": t.role,
             "text": t.text, "speaker": t.speaker,
             **{m: c.metadata.get(m) for m in META}}
            for k in range(copies) for c in convs for t in c.turns]
    return pd.DataFrame(rows)


def local_engine(df: Any) -> tuple[Any, Any]:
    analyzer = Analyzer(model=MODEL)
    scores = [analyzer.score(c) for c in conversations_from_frame(df, speaker="speaker")]
    return scores_frame(scores), findings_frame(scores)


def assert_same(got: tuple[Any, Any], expected: tuple[Any, Any]) -> None:
    """Same rows (order aside: dask returns them partition by partition) and same values."""
    for g, e, key in zip(got, expected, ("id", "conversation_id")):
        assert list(g.columns) == list(e.columns)
        sort = [key, "turn", "start", "_code"] if key == "conversation_id" else [key]
        # sort codes as text: categorical order differs when categories are unioned
        g = (g.assign(_code=g.get("code", g[key]).astype(str)).sort_values(sort, kind="stable")
             .drop(columns="_code").reset_index(drop=True))
        e = (e.assign(_code=e.get("code", e[key]).astype(str)).sort_values(sort, kind="stable")
             .drop(columns="_code").reset_index(drop=True))
        # categories are unioned across partitions, so only their order may differ
        pd.testing.assert_frame_equal(g, e, check_categorical=False)


@pytest.fixture(scope="module")
def demo() -> Any:
    return turn_rows()


@pytest.fixture(scope="module")
def expected(demo: Any) -> tuple[Any, Any]:
    return local_engine(demo)


@pytest.fixture(scope="module")
def client() -> Any:
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        yield c


def from_parts(parts: list[Any]) -> Any:
    """A Dask DataFrame with exactly these partitions, in this order."""
    import dask

    return dd.from_delayed([dask.delayed(p) for p in parts], meta=parts[0].iloc[:0],
                           verify_meta=False)


def test_import_phrasecheck_does_not_import_dask() -> None:
    import subprocess
    import sys

    code = ("import sys, phrasecheck, phrasecheck.dask, phrasecheck.frames; "
            "assert 'dask' not in sys.modules and 'distributed' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_meta_matches_local_frames(demo: Any, expected: tuple[Any, Any]) -> None:
    scores, findings = pcd.score(dd.from_pandas(demo, npartitions=3), speaker="speaker",
                                 model=MODEL)
    for lazy, eager in zip((scores, findings), expected):
        assert list(lazy.columns) == list(eager.columns)
        assert list(lazy.dtypes.astype(str)) == list(eager.dtypes.astype(str))


def test_identical_to_local_engine(client: Any, demo: Any, expected: tuple[Any, Any]) -> None:
    scores, findings = pcd.score(dd.from_pandas(demo, npartitions=4), speaker="speaker",
                                 model=MODEL)
    got = client.compute([scores, findings], sync=True)
    assert len(got[0]) == demo["conversation_id"].nunique()
    assert_same(got, expected)


def test_mispartitioned_input(client: Any, demo: Any, expected: tuple[Any, Any]) -> None:
    # cut every 7 rows: almost every conversation straddles two or more partitions
    parts = [demo.iloc[i:i + 7] for i in range(0, len(demo), 7)]
    straddling = sum(p["conversation_id"].iloc[-1] == q["conversation_id"].iloc[0]
                     for p, q in itertools.pairwise(parts))
    assert straddling > 40
    scores, findings = pcd.score(from_parts(parts), speaker="speaker", model=MODEL,
                                 npartitions=5)
    assert_same(client.compute([scores, findings], sync=True), expected)


def test_scattered_conversations_keep_turn_order(client: Any, demo: Any) -> None:
    # round-robin rows over 3 partitions: each conversation in 3 non-adjacent pieces; the
    # frame's row order is partition by partition, and that is the turn order dask must keep
    parts = [demo.iloc[k::3] for k in range(3)]
    reference = local_engine(pd.concat(parts))
    scores, findings = pcd.score(from_parts(parts), speaker="speaker", model=MODEL)
    assert_same(client.compute([scores, findings], sync=True), reference)


def test_partitioned_input_is_not_shuffled(client: Any, demo: Any,
                                           expected: tuple[Any, Any]) -> None:
    ids = demo["conversation_id"].drop_duplicates().tolist()
    parts = [demo[demo["conversation_id"].isin(ids[i:i + 9])] for i in range(0, len(ids), 9)]
    scores, findings = pcd.score(from_parts(parts), speaker="speaker", model=MODEL,
                                 partitioned=True)
    assert not any("shuffle" in str(k) for k in dict(scores.__dask_graph__()))
    assert_same(client.compute([scores, findings], sync=True), expected)


def test_analyzer_built_once_per_worker(client: Any, demo: Any) -> None:
    pcd.register_worker_analyzer(client, model=MODEL)
    workers = set(client.scheduler_info()["workers"])
    assert client.run(pcd.analyzer_builds) == dict.fromkeys(workers, 1)
    scores, findings = pcd.score(dd.from_pandas(demo, npartitions=12), speaker="speaker",
                                 model=MODEL, npartitions=12)
    client.compute([scores, findings], sync=True)
    assert client.run(pcd.analyzer_builds) == dict.fromkeys(workers, 1)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_cli_engine_dask(client: Any, demo: Any, expected: tuple[Any, Any], tmp_path: Path,
                         fmt: str) -> None:
    from typer.testing import CliRunner

    from phrasecheck.cli import app

    data = tmp_path / "turns"
    data.mkdir()
    half = demo["conversation_id"].isin(demo["conversation_id"].unique()[:30])
    for i, part in enumerate((demo[half], demo[~half])):
        if fmt == "parquet":
            part.to_parquet(data / f"part{i}.parquet", index=False)
        elif fmt == "csv":
            part.to_csv(data / f"part{i}.csv", index=False)
        else:
            part.to_json(data / f"part{i}.jsonl", orient="records", lines=True,
                         force_ascii=False)
    out = tmp_path / "out"
    address = client.scheduler.address
    result = CliRunner().invoke(app, ["score", str(data), "--engine", "dask", "--scheduler",
                                      address, "--out", str(out), "--no-redact", "-q"])
    assert result.exit_code == 0, result.output
    got = (pd.read_parquet(out / "scores.parquet"), pd.read_parquet(out / "findings.parquet"))
    # read_turns gives the frame reader text columns; speaker is not named on the CLI
    exp = local_engine_cli(demo)
    for g, e in zip(got, exp):
        for col in e.columns:
            if str(e[col].dtype) != str(g[col].dtype):
                g[col] = g[col].astype(e[col].dtype)
    assert_same(got, exp)


def local_engine_cli(df: Any) -> tuple[Any, Any]:
    analyzer = Analyzer(model=MODEL)
    scores = [analyzer.score(c) for c in conversations_from_frame(df)]
    return scores_frame(scores), findings_frame(scores)


def test_worker_killed_mid_run(client: Any) -> None:
    big = turn_rows(copies=20)
    expected = local_engine(big)
    scores, findings = pcd.score(dd.from_pandas(big, npartitions=24), speaker="speaker",
                                 model=MODEL, npartitions=24)
    before = set(client.scheduler_info()["workers"])
    futures = client.compute([scores, findings])

    def scored(dask_scheduler: Any) -> dict[str, int]:
        held: dict[str, int] = {}
        for ts in dask_scheduler.tasks.values():
            if ts.prefix.name == "score_partition" and ts.state == "memory":
                for ws in ts.who_has:
                    held[ws.address] = held.get(ws.address, 0) + 1
        return held

    deadline = time.monotonic() + 60
    held: dict[str, int] = {}
    while not held and time.monotonic() < deadline:
        held = client.run_on_scheduler(scored)
        time.sleep(0.02)
    assert held, "no partition was scored"
    assert not all(f.done() for f in futures), "the run finished before a worker was killed"
    victim = max(held, key=lambda a: held[a])  # the worker holding the most scored partitions

    def die_soon() -> None:  # exit just after answering, like a crash mid-run
        import threading

        threading.Timer(0.05, os._exit, args=(1,)).start()

    client.run(die_soon, workers=[victim])
    got = client.gather(futures)
    assert victim not in client.scheduler_info()["workers"]
    assert before - {victim} <= set(client.scheduler_info()["workers"])
    assert len(got[0]) == len(expected[0]) == big["conversation_id"].nunique()
    assert not got[0]["id"].duplicated().any()
    assert_same(got, expected)
    # the restarted worker built its own Analyzer once; the survivor did not rebuild
    assert set(client.run(pcd.analyzer_builds).values()) <= {0, 1}


def _holey_turns() -> Any:
    """Turns with missing times and rows that cannot be used (no id, text or role)."""
    import pandas as pd

    return pd.DataFrame({
        "conversation_id": ["c1", "c1", "c1", "c2", "c3", None, "c4", "c4"],
        "role": ["agent", "customer", "agent", "agent", None, "agent", "agent", "customer"],
        "text": ["您好，请问有什么可以帮您？", "我想问社保", "好的，再见", None, "您好", "孤儿行",
                 "您好", "谢谢"],
        "start": [0.0, None, 5.0, 1.0, 0.0, 0.0, None, None],
        "end": [2.0, 4.0, None, 2.0, 1.0, 1.0, None, 3.0],
    })


@pytest.mark.parametrize("backend", ["numpy", "numpy_nullable", "pyarrow"])
def test_missing_values_of_every_dtype_backend(backend: str) -> None:
    import dask

    from phrasecheck import score_frame

    df = _holey_turns()
    if backend != "numpy":
        df = df.convert_dtypes(dtype_backend=backend)
    errors: list[Any] = []
    scores, _ = score_frame(df, start="start", end="end", policy="default", on_error=errors.append)
    assert list(scores["id"]) == ["c1", "c4"]
    assert {e.conversation_id for e in errors} >= {"c2", "c3"}
    lazy = pcd.score(dd.from_pandas(df, npartitions=3), start="start", end="end", model=MODEL,
                     with_errors=True, shuffle_method="tasks")  # p2p needs a cluster
    got_scores, _, got_errors = dask.compute(*lazy, scheduler="sync")
    assert sorted(got_scores["id"]) == ["c1", "c4"]
    # every conversation is scored or listed, and the row without an id is listed too
    assert set(got_errors["conversation_id"].dropna()) == {"c2", "c3"}
    assert got_errors["conversation_id"].isna().sum() >= 1
    assert list(got_errors.columns) == ["path", "line", "conversation_id", "reason"]
