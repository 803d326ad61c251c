"""Cold start: a fresh process imports phrasecheck, builds the default Analyzer and checks its
first message, and a fresh ``phrasecheck score`` of one conversation; beside a bare
``import jieba; jieba.lcut('您好')`` measured in the same run.

    python benchmarks/bench_coldstart.py [--repeat 5] [--quick]

Every run is a new subprocess started in an empty temporary working directory; the parent
times it from spawn to exit (wall) and the child reports its own breakdown. Children run as
an installed package runs, with Python's bytecode cache (``PYTHONDONTWRITEBYTECODE`` is
removed from their environment and one untimed round writes the ``.pyc`` files first: pip
compiles them when it installs a wheel); a relative ``PYTHONPATH`` is made absolute.
  import        ``import phrasecheck`` (and ``from phrasecheck import Analyzer``);
  build         ``Analyzer()``: lexicons, policy, automata;
  first check   the first ``check_text`` of an agent message (loads what it needs lazily:
                the reply-tone model when there is one, with the classifier's own jieba
                tokenizer; the Analyzer's jieba when a candidate needs a token boundary);
  warm          ``warm()`` afterwards (rows "+ warm()" only): whatever the first check did
                not load (jieba, model), i.e. what a later message may still pay for.
Rows, each the median of --repeat runs, interleaved:
  python        ``python -c pass``: the interpreter alone;
  bare jieba    ``python -c "import jieba; jieba.lcut('您好')"``: the baseline;
  phrasecheck   import + build + first check: ``Analyzer().check_text(...)``'s first result.
                Target (issue 17): <= 0.5x bare jieba;
  CLI, one conversation   ``phrasecheck score corpora/demo/bank_001.txt --out DIR -q``
                (default formats csv, xlsx, html; default --jobs). Target (issue 17):
                <= 1.3x bare jieba;
  phrasecheck + warm()   the same as "phrasecheck", then ``warm()``: everything loaded;
  ... , no cache   the same with ``PHRASECHECK_CACHE_DIR`` and ``TMPDIR`` pointing at an
                empty directory: a first run after installing (the user cache and jieba's
                dictionary cache are rebuilt).
Then checks where the caches went: phrasecheck's user cache directory, never the working
directory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, phrasecheck_cmd

CHECK_TARGET = 0.5  # x bare jieba: Analyzer().check_text(...)'s first result
CLI_TARGET = 1.3  # x bare jieba: phrasecheck score of one conversation
ROOT = Path(__file__).resolve().parent.parent
ONE = ROOT / "corpora" / "demo" / "bank_001.txt"

CHILD = r"""
import json, sys, time
HEAVY = ("numpy", "pandas", "sklearn", "jieba", "rich", "typer", "opencc", "ahocorasick",
         "yaml", "scipy")
heavy = lambda: sorted(m for m in HEAVY if m in sys.modules)
t0 = time.perf_counter()
import phrasecheck
from phrasecheck import Analyzer
t1 = time.perf_counter()
after_import = heavy()
a = Analyzer()
t2 = time.perf_counter()
found = a.check_text("您好，这个不归我管，你问别人去")
t3 = time.perf_counter()
rec = {"import": t1 - t0, "build": t2 - t1, "first": t3 - t2, "findings": len(found),
       "jieba_loaded_by_first": bool(getattr(a.tokenizer, "loaded", False)),
       "model_loaded_by_first": a._model_loaded and a._model is not None,
       "modules": len(sys.modules), "heavy_after_import": after_import,
       "heavy_after_first": heavy()}
if WARM:
    a.warm()
    rec["warm"] = time.perf_counter() - t3
    rec["model"] = a.model is not None
print(json.dumps(rec))
"""

def spawn(code: str | list[str], cwd: str, env: dict[str, str] | None = None
          ) -> tuple[float, str]:
    cmd = [sys.executable, "-c", code] if isinstance(code, str) else code
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"child failed:\n{proc.stderr}")
    return wall, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="3 runs")
    args = ap.parse_args()
    repeat = 3 if args.quick else args.repeat

    print(machine())
    walls: dict[str, list[float]] = {}
    parts: dict[str, list[float]] = {}
    info: dict[str, dict[str, Any]] = {}
    loads: list[float] = []
    rebuilt: list[list[str]] = []
    # Children run as an installed package runs: with Python's bytecode cache (pip compiles
    # every module when it installs a wheel). A machine that sets PYTHONDONTWRITEBYTECODE
    # would otherwise compile all of phrasecheck's modules from source in every child,
    # which no user of an installed phrasecheck pays. One untimed round writes the .pyc
    # files (and warms the OS file cache) for every row alike.
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if base_env.get("PYTHONPATH"):  # children run elsewhere: PYTHONPATH=src must still hold
        base_env["PYTHONPATH"] = os.pathsep.join(
            str(Path(p).resolve()) for p in base_env["PYTHONPATH"].split(os.pathsep) if p)
    print(f"children: bytecode cache on (PYTHONDONTWRITEBYTECODE "
          f"{'removed' if len(base_env) < len(os.environ) else 'not set'}); one untimed "
          f"warm-up round first")
    with tempfile.TemporaryDirectory(prefix="pc-cold-cwd-") as cwd:
        for r in range(-1, repeat):
            with tempfile.TemporaryDirectory(prefix="pc-cold-tmp-") as empty_tmp, \
                    tempfile.TemporaryDirectory(prefix="pc-cold-out-") as out:
                fresh = {**base_env, "TMPDIR": empty_tmp,
                         "PHRASECHECK_CACHE_DIR": str(Path(empty_tmp) / "cache")}
                cli = [*phrasecheck_cmd(), "score", str(ONE), "--out", out, "-q"]
                runs: list[tuple[str, str | list[str], dict[str, str]]] = [
                    ("python", "pass", base_env),
                    ("bare jieba", "import jieba; jieba.lcut('您好')", base_env),
                    ("phrasecheck", "WARM = False" + CHILD, base_env),
                    ("CLI, one conversation", cli, base_env),
                    ("phrasecheck + warm()", "WARM = True" + CHILD, base_env),
                    ("phrasecheck + warm(), no cache", "WARM = True" + CHILD, fresh),
                    ("CLI, one conversation, no cache", cli, fresh),
                ]
                if r < 0:  # the warm-up round: not timed
                    for _, code, env in runs:
                        spawn(code, cwd, env)
                    continue
                k = r % len(runs)
                for name, code, env in runs[k:] + runs[:k]:
                    loads.append(os.getloadavg()[0])
                    wall, printed = spawn(code, cwd, env)
                    walls.setdefault(name, []).append(wall)
                    if name.startswith("phrasecheck"):
                        rec = json.loads(printed)
                        for key in ("import", "build", "first", "warm"):
                            if key in rec:
                                parts.setdefault(f"{name}|{key}", []).append(rec[key])
                        info[name] = rec
                        if env is fresh:  # the caches must have gone to the fresh dir
                            rebuilt.append(sorted(p.relative_to(empty_tmp).as_posix()
                                                  for p in Path(empty_tmp).rglob("*")
                                                  if p.is_file()))
            print(f"  run {r + 1}/{repeat}: " + ", ".join(
                f"{name} {walls[name][-1]:.2f} s" for name, _, _ in runs), flush=True)
        left_in_cwd = sorted(os.listdir(cwd))

    med = {k: statistics.median(v) for k, v in walls.items()}
    base = med["bare jieba"]
    print()
    print(f"{'wall, fresh process (s)':32} {'median':>8} {'min':>7} {'max':>7} "
          f"{'vs bare jieba':>14}")
    for name, v in walls.items():
        print(f"{name:32} {med[name]:8.3f} {min(v):7.3f} {max(v):7.3f} "
              f"{med[name] / base:13.2f}x")
    for name in ("phrasecheck", "phrasecheck + warm()", "phrasecheck + warm(), no cache"):
        keys = [k for k in ("import", "build", "first", "warm") if f"{name}|{k}" in parts]
        p = {k: statistics.median(parts[f"{name}|{k}"]) for k in keys}
        rec = info[name]
        interp = med[name] - sum(p.values())
        print(f"\n{name}: breakdown reported by the child (median s)")
        print(f"  interpreter + exit  {interp:7.3f}   (wall - the parts below)")
        heavy = ", ".join(rec["heavy_after_import"]) or "none of numpy, pandas, sklearn, jieba…"
        print(f"  import              {p['import']:7.3f}   ({heavy} imported by it)")
        print(f"  build Analyzer()    {p['build']:7.3f}")
        print(f"  first check_text    {p['first']:7.3f}   (Analyzer's jieba loaded by it: "
              f"{rec['jieba_loaded_by_first']}; model loaded by it: "
              f"{rec['model_loaded_by_first']}; {rec['modules']} modules loaded by then, "
              f"heavy: {', '.join(rec['heavy_after_first']) or 'none'})")
        if "warm" in p:
            print(f"  warm() afterwards   {p['warm']:7.3f}   (what the first check had not "
                  f"loaded yet; model installed: {rec['model']})")

    from phrasecheck._cache import cache_dir

    user_cache = cache_dir()
    kept = sorted(p.relative_to(user_cache).as_posix() for p in user_cache.rglob("*")
                  if p.is_file()) if user_cache is not None else []
    print(f"\nuser cache {user_cache}: {', '.join(kept) or '(empty)'}; files left in the "
          f"child's working directory: {left_in_cwd or 'none'}")
    print(f"with an empty cache directory, a child left there: {rebuilt[0]}")
    if left_in_cwd:
        print("  PROBLEM: something was written into the working directory")
    print(f"load average before the runs: min {min(loads):.2f}, median "
          f"{statistics.median(loads):.2f}, max {max(loads):.2f} (on {os.cpu_count()} CPUs)")
    for name, target in (("phrasecheck", CHECK_TARGET), ("CLI, one conversation", CLI_TARGET)):
        ratio = med[name] / base
        verdict = "MET" if ratio <= target else "NOT MET"
        print(f"target: {name} <= {target}x bare jieba: {med[name]:.3f} s against "
              f"{base:.3f} s = {ratio:.2f}x — {verdict}")
    if not info["phrasecheck + warm()"]["model"]:
        print("NOTE: no reply-tone model is installed: the cold start does not include "
              "loading one")


if __name__ == "__main__":
    main()
