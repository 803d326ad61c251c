"""Helpers every benchmark shares: the machine line and the cached benchmark corpora."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"

# Runs the command in its argv in a child and prints its wall time and peak RSS as JSON:
# `python -c WRAPPER cmd...` (ru_maxrss of RUSAGE_CHILDREN is the command's alone).
WRAPPER = r"""
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - t0
print(json.dumps({"rc": proc.returncode, "wall": wall, "stderr": proc.stderr[-2000:],
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh
                        if ln.startswith("model name")), cpu)
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"machine: {os.cpu_count()} CPUs ({cpu}); Python {platform.python_version()}; "
            f"{dt.datetime.now().astimezone().isoformat(timespec='seconds')}; "
            f"load average {load}")


def ensure_corpus(n: int, distinct: bool = False) -> Path:
    """``benchmarks/.data/corpus_<n>`` (``corpus_<n>_distinct``): ``corpus.generate(n)``
    written once, deterministic."""
    from corpus import generate, write

    out = DATA / (f"corpus_{n}_distinct" if distinct else f"corpus_{n}")
    done = out / ".complete"
    if not done.exists():
        shutil.rmtree(out, ignore_errors=True)
        write(generate(n, distinct=distinct), out)
        done.write_text(f"corpus.generate({n}, distinct={distinct}), default seed\n",
                        encoding="utf-8")
    return out


def phrasecheck_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("phrasecheck")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "phrasecheck.cli"]


def corpus_chars(src: Path) -> int:
    """Characters of turn text in a corpus directory written by ``corpus.write``."""
    chars = 0
    for p in src.glob("*.jsonl"):
        with open(p, encoding="utf-8") as fh:
            chars += sum(len(t["text"]) for line in fh for t in json.loads(line)["turns"])
    return chars
