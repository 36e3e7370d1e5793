"""The real ur_rtde library (1.6.5) against the UR controller emulator, each test on its own loopback address.

The emulator runs in this process; every ur_rtde client runs in a child process (ur_rtde's
constructors hold the GIL while they wait for the controller, so client and emulator cannot share
an interpreter). Waits are on conditions with timeouts, never fixed sleeps.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tactile_material_ros.robot.sim_arm import SimArm, SimArmConfig
from tactile_material_ros.robot.ur_emulator import UrEmulator, arrival_stamps
from tactile_material_ros.robot.ur_emulator.controller import ControllerError, ControlScript
from tactile_material_ros.robot.ur_emulator.script_interface import recognise
from tactile_material_ros.sim.scene import load_scene

pytest.importorskip("rtde_control", reason="ur_rtde is not installed (pip install ur_rtde==1.6.5)")

REPO = Path(__file__).resolve().parent.parent
PALPATE = [sys.executable, "-m", "tactile_material_ros.cli.main", "palpate", "--arm", "ur_rtde",
           "--target", "rubber_ball", "--json"]
_addresses = itertools.count(1)


def _host() -> str:
    """A loopback address of this test process alone: 127.<pid-derived>.<counter>.1."""
    return f"127.{100 + os.getpid() % 150}.{next(_addresses)}.1"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _wait(predicate: object, timeout_s: float, what: str) -> float:
    start = time.monotonic()
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() - start < timeout_s, f"waited {timeout_s} s for {what}"
        time.sleep(0.001)
    return time.monotonic() - start


@pytest.fixture
def emulator() -> Iterator[UrEmulator]:
    emu = UrEmulator(load_scene(None), _host(), "e_series")
    emu.start()
    yield emu
    emu.stop()


def _palpate(host: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*PALPATE, "--robot-ip", host, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env(), cwd=REPO)


def _report(process: subprocess.Popen[str], timeout_s: float = 90.0) -> tuple[int, dict[str, object], str]:
    out, err = process.communicate(timeout=timeout_s)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert lines, f"no JSON report (rc {process.returncode}):\n{out}\n{err}"
    return process.returncode, json.loads(lines[-1]), err


CLIENT = """
import sys, rtde_control, rtde_receive
host = sys.argv[1]
r = rtde_receive.RTDEReceiveInterface(host)
c = rtde_control.RTDEControlInterface(host)
assert c.isProgramRunning(), "control script not running after the constructor"
offset = c.getTCPOffset()
q = c.getInverseKinematics(r.getActualTCPPose(), r.getActualQ())
print("RESULT", offset[2], len(q), r.getRuntimeState(), r.getRobotStatus(), r.getSafetyStatusBits(),
      r.getTargetSpeedFraction(), flush=True)
c.stopScript()
c.disconnect()
r.disconnect()
"""


def test_connect_and_disconnect_with_the_real_library(emulator: UrEmulator) -> None:
    result = subprocess.run([sys.executable, "-c", CLIENT, emulator.host], capture_output=True, text=True,
                            timeout=60, env=_env())
    assert result.returncode == 0, result.stdout + result.stderr
    fields = next(line for line in result.stdout.splitlines() if line.startswith("RESULT")).split()[1:]
    tcp_z, joints, runtime, status, safety, fraction = (float(f) for f in fields)
    assert tcp_z == pytest.approx(0.06) and joints == 6
    assert runtime == 2 and int(status) & 0b11 == 0b11 and int(safety) == 1 and fraction == 1.0
    _wait(lambda: emulator.clients == 0, 5.0, "every client to disconnect")
    assert not emulator.controller.arm.script_running          # stopScript ended it
    assert emulator.controller.errors == []


def test_palpate_through_the_real_library(emulator: UrEmulator) -> None:
    rc, report, err = _report(_palpate(emulator.host))
    assert rc == 0 and report["outcome"] == "done", err
    presses = report["presses"]
    assert isinstance(presses, list) and len(presses) == 2
    for press in presses:
        assert press["force_n"] == pytest.approx(24.0, abs=2.5)
    assert presses[1]["tool_angle_deg"] - presses[0]["tool_angle_deg"] == pytest.approx(90.0, abs=1.0)
    assert report["force_mode_stopped"] is True
    assert "e_series" in str(report["arm"])
    assert not emulator.controller.force_mode_active
    assert emulator.controller.errors == []


def _wait_holding(emulator: UrEmulator, process: subprocess.Popen[str]) -> None:
    """Until the first press holds at the target force; the client's own report if it ended first."""
    def holding() -> bool:
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the palpating client ended (rc {process.returncode}) before holding:\n{out}\n{err}")
        return emulator.controller.force_mode_active and emulator.controller.arm.contact_force_n() > 20.0
    _wait(holding, 60.0, "the first press to hold at the target force")


def test_watchdog_ends_force_mode_when_the_client_is_killed_mid_press(emulator: UrEmulator) -> None:
    process = _palpate(emulator.host)
    try:
        _wait_holding(emulator, process)
        os.kill(process.pid, signal.SIGKILL)
        elapsed = _wait(lambda: not emulator.controller.force_mode_active, 2.0, "force mode to end")
    finally:
        process.kill()
        process.communicate(timeout=10)
    assert elapsed <= 0.2, f"force mode ended {elapsed:.3f} s after SIGKILL (watchdog: 0.1 s)"
    assert any("watchdog" in event.detail for event in emulator.controller.arm.record if event.what == "force_mode_end")


def test_protective_stop_mid_press_then_recovery(emulator: UrEmulator) -> None:
    process = _palpate(emulator.host)
    _wait_holding(emulator, process)
    emulator.controller.inject("protective_stop")
    rc, report, err = _report(process)
    assert rc == 1 and report["outcome"] == "fault", err
    assert "protective" in str(report["reason"]).lower(), report["reason"]
    assert not emulator.controller.force_mode_active
    emulator.controller.unlock_protective_stop()            # the operator, on the pendant / dashboard ...
    emulator.controller.pendant_jog_up(0.05)                 # ... who jogs the tool out of the ball, as docs say
    rc, report, err = _report(_palpate(emulator.host))
    assert rc == 0 and report["outcome"] == "done", f"{report}\n{err}"
    assert report["force_mode_stopped"] is True


def test_dropped_link_mid_press_ends_in_a_fault_and_force_mode_ends(emulator: UrEmulator) -> None:
    process = _palpate(emulator.host)
    _wait_holding(emulator, process)
    emulator.drop_link()
    _wait(lambda: not emulator.controller.force_mode_active, 2.0, "force mode to end after the link dropped")
    rc, report, err = _report(process)
    assert report["outcome"] == "fault" and rc == 1, f"{report}\n{err}"


# -- protocol errors, without the library ------------------------------------------------------------------


def _rtde(sock: socket.socket, kind: str, payload: bytes = b"") -> tuple[str, bytes]:
    sock.sendall(struct.pack(">HB", 3 + len(payload), ord(kind)) + payload)
    size, reply = struct.unpack(">HB", sock.recv(3, socket.MSG_WAITALL))
    return chr(reply), sock.recv(size - 3, socket.MSG_WAITALL) if size > 3 else b""


def test_rtde_refuses_unknown_variables_naming_them(emulator: UrEmulator) -> None:
    with socket.create_connection((emulator.host, 30004), timeout=5) as sock:
        assert _rtde(sock, "V", struct.pack(">H", 2)) == ("V", b"\x01")
        assert _rtde(sock, "V", struct.pack(">H", 7)) == ("V", b"\x00")
        kind, reply = _rtde(sock, "v")
        assert kind == "v" and struct.unpack(">IIII", reply)[0] == 5
        kind, reply = _rtde(sock, "O", struct.pack(">d", 500.0) + b"actual_q,no_such_output,")
        assert kind == "O" and reply[1:].decode() == "VECTOR6D,NOT_FOUND"
        kind, reply = _rtde(sock, "I", b"input_int_register_0,input_double_register_3,")
        assert kind == "I" and reply[0] == 1 and reply[1:].decode() == "INT32,DOUBLE"


def test_cb3_reports_a_3x_controller_and_streams_at_125_hz() -> None:
    with UrEmulator(load_scene(None), _host(), "cb3") as emu, \
            socket.create_connection((emu.host, 30004), timeout=5) as sock:
        kind, reply = _rtde(sock, "v")
        assert struct.unpack(">IIII", reply)[0] == 3
        _rtde(sock, "O", struct.pack(">d", 125.0) + b"timestamp,")
        assert _rtde(sock, "S") == ("S", b"\x01")
        stamps: list[float] = []
        while len(stamps) < 30:
            kind, reply = _read(sock)
            if kind == "U":
                stamps.append(struct.unpack(">d", reply[1:9])[0])
        steps = [b - a for a, b in itertools.pairwise(stamps)]
        assert min(steps) == pytest.approx(0.008, abs=1e-6)


def _read(sock: socket.socket) -> tuple[str, bytes]:
    size, kind = struct.unpack(">HB", sock.recv(3, socket.MSG_WAITALL))
    return chr(kind), sock.recv(size - 3, socket.MSG_WAITALL)


def test_unknown_command_id_is_an_error_naming_it(emulator: UrEmulator) -> None:
    controller = emulator.controller
    assert controller.run_script(ControlScript("14.02.2024-12:23", 0))
    _wait(lambda: controller.arm.script_running and controller.out_int[0] == 1, 5.0, "the script to run")
    controller.write_inputs({"input_int_register_0": 77})
    _wait(lambda: bool(controller.errors), 2.0, "an error")
    assert "unknown command id 77" in controller.errors[0]
    _wait(lambda: not controller.arm.script_running, 2.0, "the script to stop")


def test_a_control_script_of_another_ur_rtde_release_is_refused() -> None:
    with pytest.raises(ControllerError, match="01.01.2030-00:00.*ur_rtde==1.6.5"):
        recognise("def rtde_control():\n  textmsg(\"RTDE Control Script Loaded (01.01.2030-00:00)\")\nend\n")
    with pytest.raises(ControllerError, match="not ur_rtde's control script"):
        recognise("def my_program():\n  movej([0,0,0,0,0,0])\nend\n")
    assert recognise("def rtde_control():\n    global reg_offset_int = 24\n"
                     "  textmsg(\"RTDE Control Script Loaded (14.02.2024-12:23)\")\nend\n").register_offset == 24


# -- the watchdog reads arrival times: the emulator's own lag is not a silent client -------------------------


def test_a_package_read_late_is_stamped_with_its_arrival_time() -> None:
    with socket.create_server((_host(), 0)) as server, socket.create_connection(server.getsockname()) as client:
        peer, _ = server.accept()
        with peer:
            assert arrival_stamps.enable(peer)
            assert not arrival_stamps.has_unread_data(peer)

            def stamped_by_the_kernel() -> bool:    # the kernel turns stamping on a moment after it is asked
                client.sendall(b"warm")
                data, _arrived_at, stamped = arrival_stamps.receive(peer, 4)
                return data == b"warm" and stamped
            _wait(stamped_by_the_kernel, 5.0, "the kernel to stamp a package")
            sent_at = time.monotonic()
            client.sendall(b"\x00\x04U\x01")
            _wait(lambda: arrival_stamps.has_unread_data(peer), 2.0, "the package to arrive")
            time.sleep(0.2)                                   # the emulator's reader thread is busy elsewhere
            data, arrived_at, stamped = arrival_stamps.receive(peer, 16)
            read_at = time.monotonic()
            assert data == b"\x00\x04U\x01" and stamped
            assert sent_at - 0.01 <= arrived_at <= read_at - 0.19, (
                f"stamped {arrived_at - sent_at:+.3f} s after sending, {read_at - arrived_at:.3f} s before reading")
            client.close()
            _wait(lambda: peer.recv(1, socket.MSG_PEEK) == b"", 2.0, "the end of the stream")
            assert not arrival_stamps.has_unread_data(peer)   # a closed client has nothing waiting: it is silent


def test_the_emulator_arm_waits_while_an_update_is_unread_and_trips_once_the_client_is_silent() -> None:
    arm = SimArm(load_scene(None), SimArmConfig(real_time_factor=1.0, watchdog_clock="wall"))
    arm.connect()
    waiting = [True]
    arm.watch_pending_input(lambda: waiting[0])
    arm.arm_watchdog(10.0)                                    # 0.1 s
    armed_at = time.monotonic()
    _wait(lambda: time.monotonic() - armed_at > 0.15, 1.0, "more than the timeout without a kick")
    assert arm.script_running, "an update waits in the socket: the client is not silent"
    arm.kick_watchdog(arrived_at=time.monotonic() - 0.05)     # read late, stamped when it arrived
    assert arm.script_running
    waiting[0] = False
    elapsed = _wait(lambda: not arm.script_running, 1.0, "the watchdog to stop the script")
    assert 0.03 <= elapsed <= 0.2, f"tripped {elapsed:.3f} s after the last update was read (its age: 0.05 s)"


# -- ur_palpation_node on the real library: two cycles in a row ---------------------------------------------


def test_the_palpation_node_runs_two_cycles_in_a_row_through_the_real_library(
        emulator: UrEmulator, ros_env: dict[str, str]) -> None:
    from std_srvs.srv import Trigger
    from test_palpation_node import NODE, Probe

    env = {**_env(), "ROS_DOMAIN_ID": ros_env["ROS_DOMAIN_ID"]}
    node = subprocess.Popen([*NODE, "-p", "arm:=ur_rtde", "-p", f"robot_ip:={emulator.host}", "-p",
                             "target:=rubber_ball"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    probe = Probe(int(env["ROS_DOMAIN_ID"]))
    try:
        probe.spin_until(lambda: (probe.palpate.service_is_ready() and probe.states[-1:] == ["idle"])
                         or node.poll() is not None, 60.0, "the node, connected to the emulator")
        assert node.poll() is None, node.communicate()[0]
        for cycle in (1, 2):
            probe.palpate.call_async(Trigger.Request())
            probe.spin_until(lambda c=cycle: probe.states.count("done") == c or probe.states[-1].startswith("fault")
                             or node.poll() is not None, 90.0, f"cycle {cycle} to end")
            stops = [e.detail for e in emulator.controller.arm.record if e.what == "script_stopped"]
            assert probe.states[-1] == "done", f"cycle {cycle}: {probe.states[-1]}; the controller: {stops}"
        assert len(probe.presses) == 4
        assert all(abs(-press.wrench.force.z - 24.0) <= 2.5 for press in probe.presses)   # tool frame: the ball pushes -z
        assert not emulator.controller.force_mode_active
        assert emulator.controller.errors == []
    finally:
        node.kill()
        output = node.communicate(timeout=10)[0]
        probe.close()
    assert "Traceback" not in output, output
