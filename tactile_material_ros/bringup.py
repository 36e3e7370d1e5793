"""bringup: start the node graph of graph.py as processes, for machines without `ros2 launch`.

    bringup [use_sim:=true] [robot_ip:=IP] [digit_serial:=SERIAL] [model:=PATH] [trigger:=press] [scene:=PATH]
            [namespace:=NS] [params_file:=PATH] [use_sim_time:=false] [launch_rviz:=false] [mount_x:=0.0] ...
            [record:=false] [bag_dir:=bags]

The same arguments as ``ros2 launch tactile_material_ros palpate_and_classify.launch.py``
(``bringup --help`` lists them). Each node runs as
``python -m tactile_material_ros.nodes.<executable> --ros-args ...`` with the namespace,
parameter files and parameters that graph.py gives it; its output is printed line by line
prefixed with ``[node name]``. The helpers (tf2_ros' static_transform_publisher for the
sensor's mount, rviz2) start where a sourced ROS 2 installation has them, and are skipped
with a note where it has not. Ctrl-C or SIGTERM stops every node (SIGINT, then SIGTERM,
then SIGKILL after a grace period) and exits 0; a required node (every node of this package)
that exits on its own stops the rest and makes bringup exit non-zero (its exit code, or 1),
as the launch file's ``on_exit=Shutdown`` does.
"""

from __future__ import annotations

import ctypes
import logging
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import yaml

from tactile_material_ros.graph import ARGUMENTS, GraphError, HelperNode, NodeSpec, build_graph, helper_nodes

log = logging.getLogger("bringup")
STOP_GRACE_S = 10.0
POLL_S = 0.1
_PR_SET_PDEATHSIG = 1


def ros_value(value: str | bool | int | float) -> str:
    """A parameter value as `-p name:=value` needs it: rcl reads the value as YAML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise GraphError(f"parameter value {value} is not finite")
        return repr(value)
    try:
        plain = bool(value) and isinstance(yaml.safe_load(value), str)
    except yaml.YAMLError:
        plain = False
    # strings YAML would read as something else ("", "true", "1.0", "~", "a: b") are quoted
    return value if plain else "'" + value.replace("'", "''") + "'"


def _ros_arguments(name: str, namespace: str, parameter_files: Sequence[Path],
                   parameters: dict[str, str | bool | int | float], remappings: Sequence[tuple[str, str]]) -> list[str]:
    """``--ros-args`` and what follows it: node name, namespace, parameter files, parameters, remappings."""
    args = ["--ros-args", "-r", f"__node:={name}"]
    if namespace:
        args += ["-r", f"__ns:={namespace}"]
    for path in parameter_files:
        args += ["--params-file", str(path)]
    for key, value in parameters.items():
        args += ["-p", f"{key}:={ros_value(value)}"]
    for source, target in remappings:
        args += ["-r", f"{source}:={target}"]
    return args


def command_for(spec: NodeSpec | HelperNode, python: str = sys.executable) -> list[str]:
    """The command line that starts one node of the graph (a helper: its installed executable)."""
    if isinstance(spec, HelperNode):
        executable = helper_executable(spec)
        if executable is None:
            raise GraphError(f"{spec.package}/{spec.executable} is not installed; source a ROS 2 installation "
                             "that has it")
        return [str(executable), *spec.arguments,
                *_ros_arguments(spec.name, spec.namespace, (), spec.parameters, ())]
    return [python, "-m", spec.module, *_ros_arguments(spec.name, spec.namespace, spec.parameter_files,
                                                        spec.parameters, spec.remappings)]


def helper_executable(helper: HelperNode) -> Path | None:
    """``<prefix>/lib/<package>/<executable>`` of a sourced ROS 2 installation (as ``ros2 run``), or None."""
    try:
        from ament_index_python.packages import get_package_prefix

        path = Path(get_package_prefix(helper.package)) / "lib" / helper.package / helper.executable
    except (ImportError, LookupError, ValueError, OSError):  # not installed, or no AMENT_PREFIX_PATH
        return None
    return path if path.is_file() and os.access(path, os.X_OK) else None


def installed_helpers(helpers: Sequence[HelperNode]) -> list[HelperNode]:
    """The helpers whose packages are installed; each one left out is logged with what it would have done."""
    found = []
    for helper in helpers:
        if helper_executable(helper) is not None:
            found.append(helper)
        else:
            log.warning("%s/%s is not installed (source a ROS 2 installation that has it): not started",
                        helper.package, helper.executable)
    return found


def parse_arguments(argv: Sequence[str]) -> dict[str, str]:
    """`name:=value` words -> dict; anything else raises GraphError."""
    given: dict[str, str] = {}
    for word in argv:
        name, sep, value = word.partition(":=")
        if not sep or not name:
            raise GraphError(f"expected name:=value, got {word!r}; arguments: {', '.join(ARGUMENTS)}")
        given[name] = value
    return given


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM if bringup itself dies (Linux; elsewhere a no-op)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class GraphProcesses:
    """The running nodes: started together, watched, stopped together."""

    def __init__(self, specs: Sequence[NodeSpec | HelperNode], env: dict[str, str] | None = None,
                 out: IO[str] = sys.stdout) -> None:
        self.specs = list(specs)
        self.env = dict(env if env is not None else os.environ)
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.out = out
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self._out_lock = threading.Lock()
        self._readers: list[threading.Thread] = []
        self._helpers_ended: set[str] = set()

    def start(self) -> None:
        for spec in self.specs:
            log.info("starting %s", " ".join(command_for(spec)))
            self.procs[spec.name] = subprocess.Popen(
                command_for(spec), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                bufsize=1, start_new_session=True, preexec_fn=_die_with_parent)
        for name, proc in self.procs.items():  # threads only after every fork
            reader = threading.Thread(target=self._relay, args=(name, proc.stdout), daemon=True)
            reader.start()
            self._readers.append(reader)

    def _relay(self, name: str, stream: IO[str] | None) -> None:
        if stream is None:
            return
        for line in stream:
            with self._out_lock:
                self.out.write(f"[{name}] {line if line.endswith(chr(10)) else line + chr(10)}")
                self.out.flush()

    def exited(self) -> tuple[str, int] | None:
        """(name, exit code) of a required node that has exited, or None while all of them run.
        A helper that exits (rviz2 closed) is reported once and left out."""
        for spec in self.specs:
            proc = self.procs.get(spec.name)
            code = None if proc is None else proc.poll()
            if code is None:
                continue
            if spec.required:
                return spec.name, code
            if spec.name not in self._helpers_ended:
                self._helpers_ended.add(spec.name)
                log.info("%s exited with code %d (not required: the graph runs on)", spec.name, code)
        return None

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGINT to every node; SIGTERM after grace_s / 2, SIGKILL after grace_s."""
        for sig, wait_s in ((signal.SIGINT, grace_s / 2), (signal.SIGTERM, grace_s / 2), (signal.SIGKILL, 5.0)):
            running = [p for p in self.procs.values() if p.poll() is None]
            if not running:
                break
            for proc in running:
                proc.send_signal(sig)
            deadline = time.monotonic() + wait_s
            while any(p.poll() is None for p in running) and time.monotonic() < deadline:
                time.sleep(POLL_S)
            if sig != signal.SIGINT and any(p.poll() is None for p in running):
                log.warning("nodes still running after %s", sig.name)
        for reader in self._readers:
            reader.join(timeout=1.0)


def run(given: dict[str, str], env: dict[str, str] | None = None) -> int:
    """Start the graph and wait for Ctrl-C / SIGTERM (exit 0) or a node exiting (non-zero)."""
    specs: list[NodeSpec | HelperNode] = [*build_graph(given), *installed_helpers(helper_nodes(given))]
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    graph = GraphProcesses(specs, env)
    try:
        graph.start()
        log.info("running %s; Ctrl-C stops", ", ".join(s.name for s in specs))
        while not stop.wait(POLL_S):
            ended = graph.exited()
            if ended is not None:
                name, code = ended
                log.error("%s exited with code %d: stopping the graph", name, code)
                return code if code > 0 else 1
        log.info("stopping")
        return 0
    finally:
        graph.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="[bringup] %(message)s")
    if any(a in ("-h", "--help") for a in argv):
        sys.stdout.write(__doc__ + "\narguments:\n" + "".join(
            f"  {name + ':=' + repr(a.default):<24} {a.description}\n" for name, a in ARGUMENTS.items()))
        return 0
    try:
        return run(parse_arguments(argv))
    except GraphError as exc:
        log.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
