"""The live graph for the graph benchmarks: the package's own node graph (graph.py) started as
processes by bringup's ``GraphProcesses`` on a private ROS domain, with per-node parameter
overrides, plus what the benchmarks read off it: each node's resident memory and a
spinning rclpy context for the benchmark's own listener node.

Imported by bench_live_graph.py and bench_press_mode.py; not a benchmark itself.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from tactile_material_ros.bringup import GraphProcesses
from tactile_material_ros.graph import build_graph

Value = str | bool | int | float


def rss_mib(pid: int) -> float:
    """Resident set size of a process [MiB] (Linux /proc), NaN once it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far [s] (Linux /proc), NaN once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    # after the command name: state is field 3, utime and stime are fields 14 and 15 (proc(5))
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class LiveGraph:
    """Start the graph with ``arguments`` (as bringup takes them) and ``overrides`` per node name."""

    def __init__(self, arguments: Mapping[str, str], overrides: Mapping[str, Mapping[str, Value]],
                 log_path: Path) -> None:
        specs = [replace(spec, parameters={**spec.parameters, **overrides.get(spec.name, {})})
                 for spec in build_graph(arguments)]
        self.domain_id = random.randint(1, 100)
        env = dict(os.environ, ROS_DOMAIN_ID=str(self.domain_id), PYTHONUNBUFFERED="1")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "w")  # noqa: SIM115 (closed in close())
        self.processes = GraphProcesses(specs, env, out=self._log)
        self.context = rclpy.context.Context()
        self.executor: SingleThreadedExecutor | None = None
        self._spinner: threading.Thread | None = None

    def start(self, listener: Callable[[rclpy.context.Context], Node]) -> Node:
        """Start the nodes, then the benchmark's own node (built by ``listener`` in this domain), spinning."""
        self.processes.start()
        rclpy.init(context=self.context, domain_id=self.domain_id)
        node = listener(self.context)
        # one thread: rclpy's multi-threaded executor costs a Python listener more than it gains
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(node)
        self._spinner = threading.Thread(target=self.executor.spin, daemon=True)
        self._spinner.start()
        return node

    @property
    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.processes.procs.items()}

    def memory_mib(self) -> dict[str, float]:
        return {name: rss_mib(pid) for name, pid in self.pids.items()}

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far by each node's process and by this one (the benchmark's listener)."""
        return {**{name: cpu_seconds(pid) for name, pid in self.pids.items()}, "benchmark": cpu_seconds(os.getpid())}

    def check_running(self) -> None:
        ended = self.processes.exited()
        if ended is not None:
            raise RuntimeError(f"{ended[0]} exited with code {ended[1]}; see the graph log {self._log.name}")

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown()
        self.context.try_shutdown()
        self.processes.stop()
        self._log.close()


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str, graph: LiveGraph | None = None) -> None:
    """Poll ``condition`` until it holds; TimeoutError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if graph is not None:
            graph.check_running()
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s:.0f} s for {what}")
        time.sleep(0.05)


def seconds(stamp: Any) -> float:
    return stamp.sec + stamp.nanosec * 1e-9
