"""What every bench script records beside its figures: percentile statistics of timed samples,
the machine they were taken on (cores, CPU model, load), the command line, and the result file.

Imported by the bench scripts (they run as ``python bench/<script>.py``, so ``bench/`` is on
``sys.path``); not a benchmark itself, hence no ``bench_`` prefix (run_all.py runs ``bench_*.py``).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"
FRAME_PERIOD_MS = 1000.0 / 60.0  # a DIGIT streams 60 frames per second


def stats(samples_ms: list[float]) -> dict[str, float]:
    """Mean, median (p50), p95, p99 and max of ``samples_ms`` (numpy's linear-interpolation percentiles)."""
    if not samples_ms:
        raise ValueError("no samples to summarise")
    a = np.asarray(samples_ms, dtype=float)
    return {"mean": float(a.mean()), "p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "p99": float(np.percentile(a, 99)), "max": float(a.max()), "n": int(a.size)}


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """Where and when: cores, CPU model, 1/5/15-min load average, platform, Python and library versions."""
    versions = {}
    for name in ("torch", "onnxruntime", "transformers"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = getattr(module, "__version__", "?")
    return {"cpus": os.cpu_count(), "cpu_model": cpu_model(), "load_average": list(os.getloadavg()),
            "platform": platform.platform(), "python": sys.version.split()[0], **versions,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def command_line() -> str:
    return " ".join(["python", f"bench/{Path(sys.argv[0]).name}", *sys.argv[1:]])


def write_results(name: str, result: dict[str, Any]) -> Path:
    """Write ``result`` to bench/results/<name>.json and return the path."""
    path = RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return path


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub markdown table (numbers right-aligned), ready to paste into docs/benchmarks.md."""
    align = ["---" if i == 0 else "---:" for i in range(len(header))]
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)
