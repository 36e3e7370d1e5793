"""The live graph in continuous mode: a 60 fps simulated DIGIT classified frame by frame, for minutes.

    .venv/bin/python bench/bench_live_graph.py [--minutes 10] [--fps 60] [--rate-hz 30] [--no-palpate]

Starts the package's graph (graph.py, as bringup does: simulated UR10, simulated DIGIT, the
bundled model) with ``trigger:=continuous``, the camera at ``--fps`` and the classifier's
``continuous_rate_hz`` at ``--rate-hz``, on a private ROS domain. Meanwhile the arm palpates
its target over and over (``palpation/palpate``), so the frames show contact as well as the
free gel, and the arm node works as it would in a cell. This process listens like a viewer
would: ``material_label``, ``material_classifier/overlay`` and ``/diagnostics`` (not the raw
images: the camera's own diagnostics count them). After a warm-up it measures for ``--minutes``:

- frame-to-label latency, capture stamp → label publish, as the classifier times it
  (inference/frame_freshness.py; over every label of the run, warm-up included);
- and as a subscriber in another process sees it: the overlay's stamp is the capture time of
  the classified frame and it is published right after its label; each overlay is paired with
  the label received just before it; latency = label received here − capture stamp (one
  clock: one machine).
- stale frames, from the classifier's own account (inference/frame_freshness.py): a classified
  frame is *verified newest* when the next frame the camera sent reached the classifier's
  middleware (rmw's receive time) after the frame was taken, *stale* when a newer one had
  arrived before, *unverified* when its successor never came through the one-deep queue (then
  it counts as possibly stale only if taken later than one camera period plus the least
  delivery delay after its capture).
- counts: frames the camera captured (its diagnostics), received / classified / dropped over the
  rate by the classifier (its diagnostics), and those replaced in its one-deep queue.
- resident memory of each node at the start and the end of the measurement, and every 10 s.

Writes bench/results/live_graph.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import bisect
import logging
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from graph_harness import LiveGraph, wait_for
from measurement import FRAME_PERIOD_MS, RESULTS_DIR, command_line, machine, markdown_table, stats, write_results
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import String
from std_srvs.srv import Trigger

from tactile_material_ros.nodes.node_support import RESULT_QOS
from tactile_material_ros.paths import model_file

log = logging.getLogger("bench_live_graph")
RELIABLE_DEEP = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
RECEIVED_KEY = "(received, monotonic s)"  # added to each node's diagnostics values by the listener
LABEL_BOUND_P95_MS = 30.0
MEMORY_GROWTH_BOUND = 0.05


class Listener(Node):
    """Records what a viewer of the graph receives, with this machine's receive times."""

    def __init__(self, context: Any) -> None:
        super().__init__("bench_live_listener", context=context)
        self.lock = threading.Lock()
        self.labels: list[float] = []                   # received
        self.overlays: list[tuple[float, float]] = []   # (stamp = capture time of the classified frame, received)
        self.diagnostics: dict[str, dict[str, str]] = {}
        self.create_subscription(String, "material_label", self._on_label, RESULT_QOS)
        # raw: only the stamp is read, straight from the serialised message, so this listener does not
        # spend a core turning 60 overlay images a second into Python objects
        self.create_subscription(Image, "material_classifier/overlay", self._on_overlay, RELIABLE_DEEP, raw=True)
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 50)
        self.palpate = self.create_client(Trigger, "palpation/palpate")

    def _on_label(self, msg: String) -> None:
        received = time.time()
        with self.lock:
            self.labels.append(received)

    def _on_overlay(self, serialised: bytes) -> None:
        received = time.time()
        # CDR: 4 bytes of encapsulation, then std_msgs/Header's stamp (int32 sec, uint32 nanosec)
        sec, nanosec = struct.unpack_from("<iI", serialised, 4)
        with self.lock:
            self.overlays.append((sec + nanosec * 1e-9, received))

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        with self.lock:
            for status in msg.status:
                self.diagnostics[status.name] = {kv.key: kv.value for kv in status.values}
                self.diagnostics[status.name][RECEIVED_KEY] = repr(time.monotonic())

    def clear(self) -> None:
        with self.lock:
            self.labels.clear()
            self.overlays.clear()

    def counters(self, key: str) -> dict[str, str]:
        """The latest diagnostics values of the node whose status carries ``key``."""
        with self.lock:
            for values in self.diagnostics.values():
                if key in values:
                    return dict(values)
        return {}


class Palpator(threading.Thread):
    """Calls palpation/palpate back to back until stopped; counts the cycles."""

    def __init__(self, node: Listener) -> None:
        super().__init__(daemon=True)
        self.node = node
        self.stop_event = threading.Event()
        self.cycles = 0
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stop_event.is_set():
            future = self.node.palpate.call_async(Trigger.Request())
            deadline = time.monotonic() + 60.0
            while not future.done() and time.monotonic() < deadline and not self.stop_event.is_set():
                time.sleep(0.05)
            if future.done():
                response = future.result()
                self.cycles += 1
                if not response.success:
                    self.failures.append(response.message)
            self.stop_event.wait(0.3)


def analyse(labels: list[float], overlays: list[tuple[float, float]]) -> dict[str, Any]:
    """Latency of each label from its frame's capture, as a subscriber receives it."""
    labels = sorted(labels)
    latency_label, latency_overlay = [], []
    used = 0
    for stamp, overlay_received in sorted(overlays, key=lambda o: o[1]):
        # the label published just before this overlay: the latest one received before it, not used yet
        k = bisect.bisect_right(labels, overlay_received) - 1
        if k < used:
            continue
        used = k + 1
        latency_label.append(1e3 * (labels[k] - stamp))
        latency_overlay.append(1e3 * (overlay_received - stamp))
    return {"labels_paired": len(latency_label), "latency_capture_to_label_ms": stats(latency_label),
            "latency_capture_to_overlay_ms": stats(latency_overlay)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="measurement length after the warm-up")
    parser.add_argument("--warmup-s", type=float, default=20.0, help="seconds after the first label before measuring")
    parser.add_argument("--fps", type=int, default=60, choices=(30, 60), help="simulated DIGIT frame rate")
    parser.add_argument("--rate-hz", type=float, default=30.0, help="classifier continuous_rate_hz (30: every other "
                        "frame, the rate that holds the targets on 2 cores beside the simulation; 60: every frame)")
    parser.add_argument("--model", default=str(model_file()), help="ONNX model (default: the bundled one)")
    parser.add_argument("--no-palpate", action="store_true", help="leave the arm idle (free gel only)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    graph = LiveGraph({"trigger": "continuous", "model": args.model},
                      {"digit_camera_node": {"fps": args.fps},
                       "material_classifier_node": {"continuous_rate_hz": float(args.rate_hz)}},
                      RESULTS_DIR / "live_graph.log")
    palpator: Palpator | None = None
    try:
        node = graph.start(Listener)
        wait_for(lambda: bool(node.labels), 90.0, "a first label", graph)
        if not args.no_palpate:
            wait_for(lambda: node.palpate.service_is_ready(), 30.0, "palpation/palpate", graph)
            palpator = Palpator(node)
            palpator.start()
        log.info("warm-up %.0f s", args.warmup_s)
        time.sleep(args.warmup_s)
        before, camera_before = node.counters("frames_classified"), node.counters("dropped_frames")
        node.clear()
        memory = [(0.0, graph.memory_mib())]
        cpu_start = graph.cpu_seconds()
        cycles0 = palpator.cycles if palpator else 0
        start = time.monotonic()
        duration = 60.0 * args.minutes
        log.info("measuring for %.1f min (memory every 10 s)", args.minutes)
        while (elapsed := time.monotonic() - start) < duration:
            graph.check_running()
            time.sleep(min(10.0, duration - elapsed))
            memory.append((round(time.monotonic() - start, 1), graph.memory_mib()))
            log.info("%.0f s: %d labels, rss %s", time.monotonic() - start, len(node.labels),
                     {k: round(v, 1) for k, v in memory[-1][1].items()})
        measured_s = time.monotonic() - start
        cpu_end = graph.cpu_seconds()
        time.sleep(1.5)  # the last labels and overlays in flight, and a diagnostics round
        after, camera_after = node.counters("frames_classified"), node.counters("dropped_frames")
        with node.lock:
            labels, overlays = list(node.labels), list(node.overlays)
        cycles = (palpator.cycles - cycles0) if palpator else 0
    finally:
        if palpator is not None:
            palpator.stop_event.set()
        graph.close()

    model_ms = float(after.get("latency_per_frame_ms", "nan"))
    result = analyse(labels, overlays)

    def delta(key: str, new: dict[str, str] = after, old: dict[str, str] = before) -> int:
        return int(new.get(key, 0)) - int(old.get(key, 0))

    counts = {"camera_frames": delta("frames", camera_after, camera_before),
              "camera_dropped": delta("dropped_frames", camera_after, camera_before),
              "classifier_received": delta("frames_received"), "classified": delta("frames_classified"),
              "dropped_over_rate": delta("frames_dropped_over_rate"), "skipped_malformed": delta("frames_skipped"),
              "classified_on_arrival": delta("classified_on_arrival"),
              "verified_newest": delta("classified_verified_newest"), "stale": delta("classified_stale"),
              "unverified": delta("classified_unverified"), "possibly_stale": delta("classified_possibly_stale"),
              "never_taken": delta("frames_never_taken"), "labels_received": len(labels)}
    # the two camera snapshots are diagnostics rounds (1 Hz): divide by the time between them
    camera_fps = counts["camera_frames"] / (float(camera_after[RECEIVED_KEY]) - float(camera_before[RECEIVED_KEY]))
    result["stale_frames_classified_at_most"] = counts["stale"] + counts["possibly_stale"]
    own_p50, own_p95, own_p99 = (float(v) for v in after["capture_to_label_ms_p50_p95_p99"].split(" / "))
    result["classifier_own_view"] = {k: after.get(k) for k in ("camera_frame_period_ms",
                                                              "frame_age_at_take_ms_p50_p99_max",
                                                              "frame_wait_in_queue_ms_p50_p99_max",
                                                              "frame_delivery_ms_min",
                                                              "capture_to_label_ms_p50_p95_p99")}
    start_mem, end_mem = memory[0][1], memory[-1][1]
    growth = {name: (end_mem[name] - start_mem[name]) / start_mem[name] for name in start_mem}
    cpu_share = {name: (cpu_end[name] - cpu_start[name]) / measured_s for name in cpu_start}
    host = machine()
    result.update({
        "command": command_line(), "host": host, "minutes": args.minutes, "fps": args.fps, "rate_hz": args.rate_hz,
        "model": Path(args.model).name, "palpation_cycles": cycles, "model_ms_per_frame": model_ms,
        "camera_fps_seen": camera_fps,
        "counts": counts, "cpu_cores_used": cpu_share, "memory_mib": {"start": start_mem, "end": end_mem, "growth": growth, "samples": memory},
        "checks": {
            "zero_stale_frames": counts["stale"] + counts["possibly_stale"] == 0,
            f"label_p95_at_most_{LABEL_BOUND_P95_MS:g}_ms": own_p95 <= LABEL_BOUND_P95_MS,
            "memory_growth_below_5_percent": all(g < MEMORY_GROWTH_BOUND for g in growth.values()),
        },
        "frame_period_ms": FRAME_PERIOD_MS,
    })
    path = write_results("live_graph", result)
    lat = result["latency_capture_to_label_ms"]
    print(markdown_table(["measure", "value"], [
        ["run", f"{args.minutes:g} min, camera {args.fps} fps, rate cap {args.rate_hz:g} Hz, {cycles} palpation cycles"],
        ["camera frames per second (simulated DIGIT rendering from the arm's pose)", f"{camera_fps:.2f}"],
        ["classifier model time per frame (its diagnostics) [ms]", f"{model_ms:.2f}"],
        ["capture → label publish p50 / p95 / p99 [ms] (the classifier's timing, "
         f"{after.get('labels_timed')} labels)", f"{own_p50:.1f} / {own_p95:.1f} / {own_p99:.1f}"],
        ["capture → label received by a subscriber p50 / p95 / p99 [ms]",
         f"{lat['p50']:.1f} / {lat['p95']:.1f} / {lat['p99']:.1f}"],
        ["labels (paired with their frame)", f"{result['labels_paired']}"],
        ["camera frames / received by the classifier / classified",
         f"{counts['camera_frames']} / {counts['classifier_received']} / {counts['classified']}"],
        ["dropped over the rate cap / never taken (replaced in the 1-deep queue, or lost)",
         f"{counts['dropped_over_rate']} / {counts['never_taken']}"],
        ["classified frames: verified newest / stale / unverified (of which possibly stale)",
         f"{counts['verified_newest']} / {counts['stale']} / {counts['unverified']} ({counts['possibly_stale']}) "
         f"of {counts['classified_on_arrival']}"],
        ["frame age when taken p50 / p99 / max [ms]", str(after.get("frame_age_at_take_ms_p50_p99_max"))],
        ["frame wait in the classifier's queue p50 / p99 / max [ms]",
         str(after.get("frame_wait_in_queue_ms_p50_p99_max"))],
        ["CPU used, in cores (of 2): " + ", ".join(cpu_share),
         " / ".join(f"{share:.2f}" for share in cpu_share.values())],
        *[[f"RSS {name} start → end [MiB]", f"{start_mem[name]:.1f} → {end_mem[name]:.1f} ({100 * growth[name]:+.2f}%)"]
          for name in start_mem],
    ]))
    print(f"checks: {result['checks']}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
