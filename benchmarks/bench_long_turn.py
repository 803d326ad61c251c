"""One long turn: time, peak RSS and output bytes for single-line transcripts of 10,000,
100,000 and 1,000,000 characters, side by side, to show linear growth (issue 14, item 5).

    python benchmarks/bench_long_turn.py [--sizes 10000,100000,1000000] [--format csv,xlsx,html]
                                         [--jobs 1] [--quick]

Each size is a ``.txt`` transcript whose whole text is ONE agent line (an undiarised call, an
ASR output without line breaks), made of everyday agent phrases and filler in a fixed,
seeded order, about one lexicon finding per 40 characters. Each figure comes from one fresh
``phrasecheck score FILE --jobs 1 --quiet --format F --out FRESH`` run inside a small wrapper
process (peak RSS is ``ru_maxrss`` of ``RUSAGE_CHILDREN``); output bytes are the sizes of
every file written, records file included. The baseline, measured in the same run, is a
one-line transcript of 40 characters: the fixed cost (interpreter, imports, Analyzer, the
model). Growth is judged on the size above that baseline: for linear growth, ten times the
characters cost about ten times the time, memory and output above the floor.

``--max-chars`` is raised for the run so that the largest size is scored, not refused.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import WRAPPER, machine, phrasecheck_cmd  # noqa: E402

DATA = HERE / ".data" / "long_turn"
SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)

# pieces of an agent's talk: a few carry lexicon phrases, most are ordinary words
_PHRASES = ("您好", "请稍等", "不好意思", "感谢您的耐心等待", "这个不归我管", "再见")
_FILLER = ("我帮您查一下这个业务的办理进度", "您的材料我们已经收到了", "系统显示还在审核中",
           "一般需要三到五个工作日", "您可以留意一下短信通知", "如果有问题我们会给您回电",
           "这个需要本人带身份证原件", "线上也可以提交申请", "具体以窗口答复为准")


def transcript(chars: int, seed: int = 14) -> str:
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    while size < chars:
        piece = rng.choice(_PHRASES) if rng.random() < 0.25 else rng.choice(_FILLER)
        parts.append(piece + "，")
        size += len(piece) + 1
    return "".join(parts)[:chars]


def make(chars: int) -> Path:
    path = DATA / f"turn_{chars}.txt"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        path.write_text("坐席：" + transcript(chars) + "\n", encoding="utf-8")
    return path


def run(src: Path, fmt: str, jobs: int, max_chars: int) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MB, output bytes) of one fresh ``phrasecheck score``."""
    out = DATA / "out"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-c", WRAPPER, *phrasecheck_cmd(), "score", str(src), "--jobs",
           str(jobs), "--format", fmt, "--quiet", "--max-chars", str(max_chars), "--out",
           str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    rec = json.loads(proc.stdout)
    if rec["rc"] not in (0, 1):
        sys.exit(f"phrasecheck score failed ({rec['rc']}):\n{rec['stderr']}")
    written = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    shutil.rmtree(out, ignore_errors=True)
    return rec["wall"], rec["maxrss_kb"] / 1024, written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default=None, help="comma-separated characters per turn")
    ap.add_argument("--format", default="csv,xlsx,html", help="phrasecheck --format")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="10,000 and 100,000 only")
    args = ap.parse_args()
    sizes = ([int(s) for s in args.sizes.split(",")] if args.sizes
             else list(QUICK_SIZES if args.quick else SIZES))
    limit = max(sizes) + 1000
    print(machine())
    print(f"phrasecheck score ONE-LINE.txt --jobs {args.jobs} --format {args.format}")
    base_t, base_m, base_b = run(make(40), args.format, args.jobs, limit)
    print(f"{'characters':>12} {'seconds':>9} {'peak RSS MB':>12} {'output MB':>10} "
          f"{'s / 100k chars':>15} {'MB RSS / 100k':>14} {'out bytes / char':>17}")
    print(f"{'40 (floor)':>12} {base_t:>9.2f} {base_m:>12.0f} {base_b / 1e6:>10.2f}")
    rows = []
    for n in sizes:
        t, m, b = run(make(n), args.format, args.jobs, limit)
        rows.append((n, t, m, b))
        print(f"{n:>12,} {t:>9.2f} {m:>12.0f} {b / 1e6:>10.2f} "
              f"{(t - base_t) / n * 1e5:>15.2f} {(m - base_m) / n * 1e5:>14.1f} "
              f"{(b - base_b) / n:>17.1f}")
    print("growth above the floor, per 10x characters (linear: about 10x):")
    for (n0, t0, m0, b0), (n1, t1, m1, b1) in itertools.pairwise(rows):
        ratio = n1 / n0

        def grew(a: float, b: float, base: float) -> str:
            if a - base <= 0.05 * base:  # the smaller run is lost in the floor's noise
                return f"{b / a:.1f}x raw"
            return f"{(b - base) / (a - base):.1f}x"

        print(f"  {n0:,} -> {n1:,} ({ratio:.0f}x): time {grew(t0, t1, base_t)}, "
              f"peak RSS {grew(m0, m1, base_m)}, output {grew(b0, b1, base_b)}")


if __name__ == "__main__":
    main()
