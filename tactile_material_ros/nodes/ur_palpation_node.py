"""ur_palpation_node: the palpation routine on a real UR (ur_rtde) or the simulated UR10, over ROS 2.

Interface (README's ROS 2 interface table):

- ``palpation/state`` (std_msgs/String, reliable, transient local, depth 1): ``idle``, ``approaching``,
  ``pressing``, ``holding``, ``retracting``, ``rotating``, ``done``, or ``fault: <reason>`` where
  reason is ``<code>: <detail>`` (codes: robot/palpation.py ``FaultCode``).
- ``palpation/cycle`` (diagnostic_msgs/DiagnosticArray, reliable, transient local, depth 1): at each
  cycle's start (before ``approaching``), one status with the values ``cycle_id`` (1, 2, ...)
  and ``target``; the classifier ties its result to it (``material_report``).
- ``palpation/press`` (geometry_msgs/WrenchStamped): once per press, when the force has settled
  at the target; stamp = settle time; the wrench is the mean over the settle window.
- ``palpation/wrench`` (geometry_msgs/WrenchStamped) and ``palpation/tcp_pose``
  (geometry_msgs/PoseStamped) and ``joint_states`` (sensor_msgs/JointState, UR joint names):
  streamed at ``stream_rate_hz`` (100 Hz) during a cycle and ``idle_rate_hz`` between cycles.
- ``palpation/start`` (std_srvs/Trigger): answers at once: success = the cycle on the current
  target was accepted (message: JSON with ``cycle_id`` and ``target``), or not, with why (a cycle
  runs). Progress: ``palpation/state``; the end: ``palpation/result`` and the classifier's
  ``material_report``.
- ``palpation/palpate`` (std_srvs/Trigger): the same cycle, answered after it: success = done;
  message = the cycle as JSON (outcome, reason, states, presses, force_mode_stopped, duration_s,
  target, cycle_id).
- ``palpation/result`` (std_msgs/String, JSON, reliable, transient local, depth 1): that JSON at
  the end of every cycle, however it was started.
- ``palpation/abort`` (std_srvs/Trigger): stops the running cycle (force mode off, lift clear,
  ``fault: aborted: ...``) and answers when the arm has been made safe.
- ``/diagnostics``: connection, robot mode, protective / emergency stop, state, stream rate.

Wrench convention (palpation/wrench and palpation/press): frame ``tool0`` (``tool_frame_id``, the
tool flange, which has the TCP's axes); the force is the force the object exerts on the tool at
the TCP (UR's ``actual_TCP_force``, rotated from base axes into the tool's with the TCP pose:
``poses.wrench_in_tool_axes``), so rviz draws it at the tool. Tool Z is the gel normal pointing
out of the sensor (down while palpating), so pressing on an object gives ``force.z < 0``: about
-24 N at a press; the normal force on the gel is ``-force.z``. palpation/tcp_pose is in ``base``
(``frame_id``); its orientation = ``Rx(pi) Rz(angle)``.

The target is the parameter ``target`` (a scene object name); change it at run time with
``ros2 param set /ur_palpation_node target wood_ball`` (or the SetParameters service); it is
checked against the scene. The routine's parameters may change at run time too and apply from
the next cycle; invalid values are refused with the allowed range. In sim mode the simulated
arm's clock runs at real time and stamps are ROS time.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PoseStamped, WrenchStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.duration import Duration
from rclpy.exceptions import InvalidParameterTypeException
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger

from tactile_material_ros.inference.result_record import CycleInfo
from tactile_material_ros.nodes import node_support
from tactile_material_ros.nodes.node_support import SENSOR_QOS, STATE_QOS, StartupError
from tactile_material_ros.robot.arm_port import ArmError, ArmPort, ArmSample
from tactile_material_ros.robot.cell import ARM_MODEL_CHOICES, TcpCheck, Workspace
from tactile_material_ros.robot.palpation import (
    PalpationBusy,
    PalpationConfig,
    PalpationListener,
    PalpationRoutine,
    PalpationState,
    Press,
)
from tactile_material_ros.robot.poses import matrix_to_quaternion, rotvec_to_matrix, wrench_in_tool_axes
from tactile_material_ros.robot.ur_kinematics import JOINT_NAMES
from tactile_material_ros.sim.scene import Scene, SceneError, load_scene

ARMS = ("sim", "ur_rtde")
ROUTINE_PARAMETERS = tuple(name for name, *_ in PalpationConfig.describe())
ABORT_WAIT_MARGIN_S = 2.0


class _Publisher(PalpationListener):
    """Routine events -> messages (runs on the thread that runs the cycle; silent once ROS shuts down,
    while an aborted cycle still makes the arm safe)."""

    wants_samples = True

    def __init__(self, node: UrPalpationNode) -> None:
        self.node = node

    def on_state(self, state: str, t: float) -> None:
        if self.node.context.ok():
            self.node.publish_state(state)

    def on_press(self, press: Press) -> None:
        if self.node.context.ok():
            self.node.publish_press(press)

    def on_sample(self, sample: ArmSample) -> None:
        if self.node.context.ok():
            self.node.publish_sample(sample)


class UrPalpationNode(Node):
    def __init__(self) -> None:
        super().__init__("ur_palpation_node")
        node_support.route_core_logging(self)
        try:
            params = self._declare_parameters()
        except InvalidParameterTypeException as exc:
            raise StartupError(f"{exc}; write floating-point parameters with a decimal point "
                               "(e.g. target_force_n:=24.0)") from None
        arm_kind, robot_ip, idle_rate_hz = params["arm"], params["robot_ip"], params["idle_rate_hz"]
        self.frame_id, self.tool_frame_id = params["frame_id"], params["tool_frame_id"]
        # validate everything before any hardware is touched
        if arm_kind not in ARMS:
            raise StartupError(f"parameter arm = {arm_kind!r} is not allowed: use one of {', '.join(ARMS)}")
        if arm_kind == "ur_rtde" and not robot_ip:
            raise StartupError("parameter robot_ip is empty but arm is ur_rtde: set robot_ip to the robot's address, "
                               "e.g. --ros-args -p robot_ip:=192.168.1.10")
        if not 0.1 <= float(idle_rate_hz) <= 100.0:
            raise StartupError(f"parameter idle_rate_hz = {idle_rate_hz!r} is out of range: allowed [0.1, 100.0] Hz")
        try:
            self.config = PalpationConfig.from_mapping({name: params[name] for name in ROUTINE_PARAMETERS})
        except ValueError as exc:
            raise StartupError(str(exc)) from None
        try:
            self.scene: Scene = load_scene(params["scene"] or None)
        except (SceneError, OSError) as exc:
            raise StartupError(f"parameter scene: {exc}") from None
        self.target = str(params["target"]) or self.scene.names[0]
        if self.target not in self.scene.names:
            raise StartupError(f"parameter target = {self.target!r} is not an object of the scene "
                               f"{self.scene.source}; allowed: {', '.join(self.scene.names)}")
        self.joint_names = [f"{params['joint_prefix']}{name}" for name in JOINT_NAMES]
        if params["arm_model"] not in ARM_MODEL_CHOICES:
            raise StartupError(f"parameter arm_model = {params['arm_model']!r} is not allowed: use one of "
                               f"{', '.join(ARM_MODEL_CHOICES)}")
        try:
            tcp_check = TcpCheck(tuple(float(v) for v in params["tcp_offset"]))  # type: ignore[arg-type]
            self.workspace = Workspace(tuple(float(v) for v in params["workspace_min_m"]),  # type: ignore[arg-type]
                                       tuple(float(v) for v in params["workspace_max_m"]),  # type: ignore[arg-type]
                                       self.scene.table_z_m)
        except (TypeError, ValueError) as exc:
            raise StartupError(f"parameter {exc}") from None

        self.arm = self._build_arm(arm_kind, robot_ip, params["arm_model"], tcp_check)
        try:
            self.arm.connect()
        except ArmError as exc:
            raise StartupError(str(exc)) from None
        problems = self.arm.model.settings_problems(self.config)
        if problems:
            self.arm.disconnect()
            raise StartupError(f"the routine's parameters are not safe on a {self.arm.model.name}: "
                               + "; ".join(problems))

        self._state_pub = self.create_publisher(String, "palpation/state", STATE_QOS)
        self._cycle_pub = self.create_publisher(DiagnosticArray, "palpation/cycle", STATE_QOS)
        self._result_pub = self.create_publisher(String, "palpation/result", STATE_QOS)
        self._start_lock = threading.Lock()
        self._starting = False
        self._press_pub = self.create_publisher(WrenchStamped, "palpation/press", node_support.RESULT_QOS)
        self._wrench_pub = self.create_publisher(WrenchStamped, "palpation/wrench", SENSOR_QOS)
        self._pose_pub = self.create_publisher(PoseStamped, "palpation/tcp_pose", SENSOR_QOS)
        self._joint_pub = self.create_publisher(JointState, "joint_states", 10)
        self._diag_pub = node_support.create_diagnostics_publisher(self)

        self.routine = PalpationRoutine(self.arm, self.config, [_Publisher(self)], self.workspace)
        self._cycles = 0
        self._cycle_id = 0
        self._faults = 0
        self._samples = 0
        self._last_outcome = "none"
        self._tcp_pose = self.arm.tcp_pose()
        self.publish_state(PalpationState.IDLE.value)

        services = ReentrantCallbackGroup()
        self.create_service(Trigger, "palpation/palpate", self._on_palpate, callback_group=services)
        self.create_service(Trigger, "palpation/start", self._on_start, callback_group=services)
        self.create_service(Trigger, "palpation/abort", self._on_abort, callback_group=services)
        timers = MutuallyExclusiveCallbackGroup()
        self.create_timer(1.0 / float(idle_rate_hz), self._publish_idle, callback_group=timers)
        self.create_timer(1.0, self._publish_diagnostics, callback_group=timers)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.get_logger().info(f"palpation on {self.arm.description}; target {self.target}; "
                               f"objects: {', '.join(self.scene.names)}")

    def _declare_parameters(self) -> dict[str, Any]:
        """Declare every parameter (descriptor with description and range); return the values as given."""
        declare = node_support.declare
        values = {
            "arm": declare(self, "arm", "sim", "sim (simulated UR10 at real time) or ur_rtde (a real UR over RTDE)",
                           read_only=True, additional_constraints="one of: sim, ur_rtde"),
            "robot_ip": declare(self, "robot_ip", "", "the UR controller's IP address (arm: ur_rtde)", read_only=True),
            "scene": declare(self, "scene", "", "scene YAML (empty: config/scene_four_balls.yaml)", read_only=True),
            "frame_id": declare(self, "frame_id", "base", "frame of palpation/tcp_pose (the robot's base)",
                                read_only=True),
            "tool_frame_id": declare(self, "tool_frame_id", "tool0", "frame of palpation/wrench and "
                                     "palpation/press: the tool flange, whose axes the wrench is given in",
                                     read_only=True),
            "joint_prefix": declare(self, "joint_prefix", "", "prefix of the UR joint names in joint_states",
                                    read_only=True),
            "target": declare(self, "target", "", "scene object to palpate (empty: the first one); may change at "
                              "run time"),
            "idle_rate_hz": declare(self, "idle_rate_hz", 10.0, "rate of pose, wrench and joint_states between "
                                    "cycles [Hz]", range=(0.1, 100.0), read_only=True),
            "arm_model": declare(self, "arm_model", "auto", "auto (detected from the RTDE period), cb3 or e_series",
                                 read_only=True, additional_constraints="one of: auto, cb3, e_series"),
            "tcp_offset": declare(self, "tcp_offset", list(TcpCheck().offset), "the TCP offset set on the pendant "
                                  "[x, y, z, rx, ry, rz] (m, rad), checked against the controller at connect",
                                  read_only=True),
            "workspace_min_m": declare(self, "workspace_min_m", list(Workspace().box_min_m), "lower corner of the "
                                       "box the TCP may be sent to (base frame) [m]", read_only=True),
            "workspace_max_m": declare(self, "workspace_max_m", list(Workspace().box_max_m), "upper corner of that "
                                       "box [m]", read_only=True),
        }
        for name, default, allowed, description in PalpationConfig.describe():
            values[name] = declare(self, name, default, description, range=allowed)
        return values

    def _build_arm(self, kind: str, robot_ip: str, arm_model: str, tcp_check: TcpCheck) -> ArmPort:
        if kind == "ur_rtde":
            from tactile_material_ros.robot.ur_rtde_arm import UrRtdeArm

            return UrRtdeArm(robot_ip, arm_model=arm_model, tcp_check=tcp_check)
        from tactile_material_ros.robot.sim_arm import SHARED_PROCESS_WALL_WATCHDOG_FLOOR_S, SimArm, SimArmConfig

        return SimArm(self.scene, SimArmConfig(real_time_factor=1.0, tcp_offset_m=tcp_check.offset[2],
                                               model="e_series" if arm_model == "auto" else arm_model,
                                               wall_watchdog_floor_s=SHARED_PROCESS_WALL_WATCHDOG_FLOOR_S))

    def close(self) -> None:
        if self.routine.abort():
            self.routine.wait_until_idle(self._abort_wait_s())
        self.arm.disconnect()

    def _abort_wait_s(self) -> float:
        """How long an aborted cycle may take to make the arm safe: the lift after a fault (at the slowest
        speed slider setting the routine stretches it for), or the watchdog."""
        return 2.0 * self.config.retract_timeout_s + self.arm.watchdog_timeout_s + ABORT_WAIT_MARGIN_S

    # -- services ----------------------------------------------------------------------------------------

    def _on_palpate(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        """palpation/palpate: one cycle, answered when it has ended (the cycle as JSON)."""
        try:
            report = self._run_cycle(self.target)
        except PalpationBusy as exc:
            response.success, response.message = False, str(exc)
            return response
        response.success = report["outcome"] == PalpationState.DONE.value
        response.message = json.dumps(report)
        return response

    def _on_start(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        """palpation/start: accept or refuse a cycle at once; it runs on its own thread, its progress goes to
        palpation/state and its end to palpation/result (and the classifier's material_report)."""
        with self._start_lock:
            if self.routine.busy or self._starting:
                response.success = False
                response.message = f"refused: a palpation cycle is running (state {self.routine.state}); " \
                                   "wait for palpation/result or call palpation/abort"
                return response
            self._starting = True
            accepted = {"accepted": True, "cycle_id": self._cycle_id + 1, "target": self.target}  # before it starts
        threading.Thread(target=self._run_started_cycle, args=(accepted["target"],), name="palpation-cycle",
                         daemon=True).start()
        response.success, response.message = True, json.dumps(accepted)
        return response

    def _run_started_cycle(self, target: str) -> None:
        try:
            self._run_cycle(target)
        except PalpationBusy as exc:  # a palpation/palpate call came in between: it runs, this one does not
            self.get_logger().warning(f"palpation/start: {exc}")
        finally:
            with self._start_lock:
                self._starting = False

    def _run_cycle(self, target: str) -> dict[str, Any]:
        """One cycle on ``target``; publishes and returns its report (PalpationBusy if one runs)."""
        if self.routine.busy:
            raise PalpationBusy(f"a palpation cycle is running (state {self.routine.state})")
        # before the cycle, not from its listener: once the arm's watchdog is armed the routine must not wait
        self.publish_cycle(target)
        result = self.routine.palpate(self.scene.get(target).top_m, self.config)
        self._cycles += 1
        self._faults += result.outcome != PalpationState.DONE.value
        self._last_outcome = result.reason or result.outcome
        report = {**result.to_dict(), "target": target, "cycle_id": self._cycle_id}
        if self.context.ok():
            self._result_pub.publish(String(data=json.dumps(report)))
        return report

    def _on_abort(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if not self.routine.abort():
            response.success, response.message = False, "no palpation cycle is running"
            return response
        settled = self.routine.wait_until_idle(self._abort_wait_s())
        response.success = settled
        response.message = f"state: {self.routine.state}" if settled else "abort requested; the cycle has not ended yet"
        return response

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        changes = {p.name: p.value for p in parameters}
        if "target" in changes:
            target = str(changes["target"]) or self.scene.names[0]
            if target not in self.scene.names:
                return SetParametersResult(successful=False, reason=f"target {target!r} is not an object of the "
                                           f"scene; allowed: {', '.join(self.scene.names)}")
        routine_changes = {k: v for k, v in changes.items() if k in ROUTINE_PARAMETERS}
        if routine_changes:
            current = {name: getattr(self.config, name) for name in ROUTINE_PARAMETERS}
            try:
                config = PalpationConfig.from_mapping({**current, **routine_changes})
            except ValueError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
            problems = self.arm.model.settings_problems(config)
            if problems:
                return SetParametersResult(successful=False, reason=f"not safe on a {self.arm.model.name}: "
                                           + "; ".join(problems))
            self.config = config
        if "target" in changes:
            self.target = str(changes["target"]) or self.scene.names[0]
        return SetParametersResult(successful=True)

    # -- messages ----------------------------------------------------------------------------------------

    def _stamp(self, t_arm: float) -> Any:
        """ROS time of an instant on the arm's clock."""
        age_s = max(0.0, self.arm.now() - t_arm)
        return (self.get_clock().now() - Duration(nanoseconds=int(age_s * 1e9))).to_msg()

    def publish_state(self, state: str) -> None:
        self._state_pub.publish(String(data=state))

    def publish_cycle(self, target: str) -> None:
        """palpation/cycle (latched): the cycle that starts now, its id and target, for the classifier's report."""
        self._cycle_id += 1
        cycle = CycleInfo(self._cycle_id, target)
        node_support.publish_diagnostics(self, self._cycle_pub, [node_support.diagnostic_status(
            self, "cycle", DiagnosticStatus.OK, target, dict(cycle.values()))])

    def publish_press(self, press: Press) -> None:
        msg = WrenchStamped()
        msg.header.stamp = self._stamp(press.t)
        msg.header.frame_id = self.tool_frame_id
        # the press is published while holding: the last streamed pose is the pose it settled at
        self._fill_wrench(msg, wrench_in_tool_axes(press.wrench, self._tcp_pose))
        self._press_pub.publish(msg)

    def publish_sample(self, sample: ArmSample) -> None:
        self._tcp_pose = sample.tcp_pose
        stamp = self._stamp(sample.t)
        wrench = WrenchStamped()
        wrench.header.stamp, wrench.header.frame_id = stamp, self.tool_frame_id
        self._fill_wrench(wrench, wrench_in_tool_axes(sample.wrench, sample.tcp_pose))
        pose = PoseStamped()
        pose.header.stamp, pose.header.frame_id = stamp, self.frame_id
        p = pose.pose.position
        p.x, p.y, p.z = (float(v) for v in sample.tcp_pose[:3])
        o = pose.pose.orientation
        o.x, o.y, o.z, o.w = (float(v) for v in matrix_to_quaternion(rotvec_to_matrix(sample.tcp_pose[3:])))
        self._wrench_pub.publish(wrench)
        self._pose_pub.publish(pose)
        if sample.joint_positions is not None:
            joints = JointState()
            joints.header.stamp = stamp
            joints.name = self.joint_names
            joints.position = [float(q) for q in sample.joint_positions]
            self._joint_pub.publish(joints)
        self._samples += 1

    @staticmethod
    def _fill_wrench(msg: WrenchStamped, values: Any) -> None:
        f, m = msg.wrench.force, msg.wrench.torque
        f.x, f.y, f.z, m.x, m.y, m.z = (float(v) for v in values)

    def _publish_idle(self) -> None:
        if self.routine.busy:
            return  # the cycle streams its own samples
        try:
            sample = ArmSample(self.arm.now(), self.arm.tcp_pose(), self.arm.tcp_wrench(), self.arm.joint_positions())
        except ArmError as exc:
            self.get_logger().warning(f"cannot read the arm: {exc}", throttle_duration_sec=5.0)
            return
        self.publish_sample(sample)

    def _publish_diagnostics(self) -> None:
        safety = self.arm.safety()
        level = 0 if safety.can_move and not self.routine.state.startswith("fault") else 1
        if not safety.connected:
            level = 2
        values = {
            "hardware_id": self.arm.description,
            "connected": safety.connected,
            "robot_mode": safety.robot_mode_name,
            "protective_stop": safety.protective_stopped,
            "emergency_stop": safety.emergency_stopped,
            "safeguard_stop": safety.safeguard_stopped,
            "program_paused": safety.program_paused,
            "arm_model": self.arm.model.name,
            "state": self.routine.state,
            "target": self.target,
            "cycles": self._cycles,
            "faults": self._faults,
            "last_outcome": self._last_outcome,
            "samples_per_s": self._samples,
        }
        self._samples = 0
        message = "ok" if level == 0 else ("disconnected" if level == 2 else f"check: {self.routine.state}")
        node_support.publish_diagnostics(self, self._diag_pub, [
            node_support.diagnostic_status(self, "arm", level, message, values)])


def main(argv: list[str] | None = None) -> None:
    sys.exit(node_support.run(UrPalpationNode, argv, threads=4))


if __name__ == "__main__":
    main()
