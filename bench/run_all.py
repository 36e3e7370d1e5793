"""Run every benchmark in bench/ (bench_*.py) in turn; each prints its table and writes bench/results/<name>.json.

Each runs with the arguments docs/benchmarks.md gives beside its figures. A benchmark whose input
is missing (the accuracy one reads the unseen-seed test set of docs/training.md) is skipped with
the command that makes the input.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TEST_SET = ROOT / "runs" / "b224" / "data" / "test"
ARGUMENTS = {
    "bench_live_graph.py": ["--rate-hz", "30"],
    "bench_classify_accuracy.py": [str(TEST_SET)],
    "bench_enrol.py": ["--objects", "10", "--presses", "6"],
}
INPUTS = {
    "bench_classify_accuracy.py": (TEST_SET, f"tactile-material synth --out {TEST_SET} --per-class 100 --seed 1"),
}


def main() -> int:
    failed, skipped = [], []
    for script in sorted(HERE.glob("bench_*.py")):
        needed = INPUTS.get(script.name)
        if needed is not None and not needed[0].exists():
            print(f"== {script.name}: skipped, {needed[0]} is missing; make it with: {needed[1]}", flush=True)
            skipped.append(script.name)
            continue
        print(f"== {script.name}", flush=True)
        if subprocess.call([sys.executable, str(script), *ARGUMENTS.get(script.name, [])]) != 0:
            failed.append(script.name)
    if skipped:
        print(f"skipped: {', '.join(skipped)}", file=sys.stderr)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
