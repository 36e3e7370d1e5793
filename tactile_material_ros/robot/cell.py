"""The cell around the routine: which UR it is (CB3 or e-Series), its TCP, its workspace and table.

What differs between the two controller generations and matters to a press (facts the
profiles rest on):
- An e-Series UR has a six-axis force/torque sensor in the tool flange; RTDE runs at 500 Hz
  (``getStepTime`` 0.002 s). ``force_mode_set_gain_scaling`` exists.
- A CB3 UR (the paper's UR10) has no F/T sensor: ``actual_TCP_force`` is estimated from the joint
  currents, with several newtons of noise; RTDE runs at 125 Hz (``getStepTime`` 0.008 s); its
  force mode has no gain scaling.

A press on a CB3 is therefore allowed only with settings that its force noise permits
(``ArmModel.settings_problems``); docs/hardware.md lists them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tactile_material_ros.robot.poses import Pose, rotation_between_rad, rotvec_to_matrix

ARM_MODEL_CHOICES = ("auto", "cb3", "e_series")


class CellError(ValueError):
    """The controller or the cell does not match what the configuration says."""


@dataclass(frozen=True)
class ArmModel:
    """One UR controller generation, and the press settings its force reading allows."""

    name: str
    rtde_period_s: float
    force_noise_n: float          # 1 sigma per axis per RTDE sample of actual_TCP_force
    has_ft_sensor: bool
    gain_scaling: bool            # force_mode_set_gain_scaling available
    min_force_tolerance_n: float
    min_force_filter_s: float
    min_contact_force_n: float
    min_free_force_n: float
    min_force_margin_n: float     # max_force_n - target_force_n at least this

    def minimum_settings(self) -> dict[str, float]:
        """The least force-related settings a press on this arm needs (docs/hardware.md lists them)."""
        return {"force_tolerance_n": self.min_force_tolerance_n, "force_filter_s": self.min_force_filter_s,
                "contact_force_n": self.min_contact_force_n, "free_force_n": self.min_free_force_n}

    def settings_problems(self, config: object) -> list[str]:
        """What in a ``PalpationConfig`` this arm's force reading does not permit (empty: all fine)."""
        problems = []
        minimums = (("force_tolerance_n", self.min_force_tolerance_n, "N"),
                    ("force_filter_s", self.min_force_filter_s, "s"),
                    ("contact_force_n", self.min_contact_force_n, "N"),
                    ("free_force_n", self.min_free_force_n, "N"))
        for name, minimum, unit in minimums:
            value = getattr(config, name)
            if value < minimum:
                problems.append(f"{name} = {value:g} {unit} is below {minimum:g} {unit}, the least that a {self.name} "
                                f"permits (force noise {self.force_noise_n:g} N); set {name}={minimum:g} or more")
        margin = config.max_force_n - config.target_force_n  # type: ignore[attr-defined]
        if margin < self.min_force_margin_n:
            problems.append(f"max_force_n - target_force_n = {margin:g} N is below {self.min_force_margin_n:g} N, "
                            f"the margin that a {self.name}'s force noise needs; raise max_force_n to at least "
                            f"{config.target_force_n + self.min_force_margin_n:g}")  # type: ignore[attr-defined]
        if not self.gain_scaling and config.gain_scaling != 1.0:  # type: ignore[attr-defined]
            problems.append(f"gain_scaling = {config.gain_scaling:g}: a {self.name} has no force-mode gain "  # type: ignore[attr-defined]
                            "scaling; set gain_scaling=1.0 (lower press_speed_limit_mps or raise damping instead)")
        return problems


E_SERIES = ArmModel("e_series", 0.002, 0.25, True, True, min_force_tolerance_n=0.5, min_force_filter_s=0.0,
                    min_contact_force_n=0.5, min_free_force_n=1.0, min_force_margin_n=5.0)
CB3 = ArmModel("cb3", 0.008, 2.0, False, False, min_force_tolerance_n=2.0, min_force_filter_s=0.05,
               min_contact_force_n=3.0, min_free_force_n=4.0, min_force_margin_n=12.0)
ARM_MODELS = {m.name: m for m in (E_SERIES, CB3)}


def model_from_period(period_s: float) -> ArmModel:
    """The model that runs RTDE at ``period_s`` (what ``getStepTime`` reports after connecting)."""
    for model in ARM_MODELS.values():
        if math.isclose(period_s, model.rtde_period_s, rel_tol=0.05):
            return model
    raise CellError(f"the controller reports an RTDE period of {period_s:g} s: neither a CB3 (0.008 s) nor an "
                    "e-Series (0.002 s); set the parameter arm_model to cb3 or e_series")


def resolve_model(configured: str, detected: ArmModel) -> ArmModel:
    """The configured model (``auto``: the detected one); a mismatch is an error naming both."""
    if configured not in ARM_MODEL_CHOICES:
        raise CellError(f"arm_model = {configured!r} is not allowed: use one of {', '.join(ARM_MODEL_CHOICES)}")
    if configured not in ("auto", detected.name):
        raise CellError(f"arm_model = {configured!r} but the controller is a {detected.name} (RTDE period "
                        f"{detected.rtde_period_s:g} s); set arm_model to {detected.name} or auto")
    return detected


@dataclass(frozen=True)
class Workspace:
    """Where the TCP may be sent: a box in the base frame, above the table top."""

    box_min_m: tuple[float, float, float] = (-1.2, -1.2, -0.1)
    box_max_m: tuple[float, float, float] = (1.2, 1.2, 1.2)
    table_z_m: float = 0.0

    def __post_init__(self) -> None:
        values = [*self.box_min_m, *self.box_max_m, self.table_z_m]
        if len(self.box_min_m) != 3 or len(self.box_max_m) != 3 or not all(math.isfinite(v) for v in values):
            raise ValueError(f"workspace_min_m = {list(self.box_min_m)} and workspace_max_m = {list(self.box_max_m)} "
                             "must be 3 finite numbers each (metres, base frame)")
        if not all(lo < hi for lo, hi in zip(self.box_min_m, self.box_max_m, strict=True)):
            raise ValueError(f"workspace_min_m = {list(self.box_min_m)} must be below workspace_max_m = "
                             f"{list(self.box_max_m)} on every axis")

    def problem(self, point: np.ndarray, what: str) -> str | None:
        """Why ``point`` (a TCP position) is not allowed, or None."""
        p = np.asarray(point, dtype=float)
        if not np.all(np.isfinite(p)):
            return f"{what} {p.tolist()} is not finite"
        if np.any(p < np.array(self.box_min_m)) or np.any(p > np.array(self.box_max_m)):
            return (f"{what} {np.round(p, 4).tolist()} m is outside the workspace box {list(self.box_min_m)} .. "
                    f"{list(self.box_max_m)} m (parameters workspace_min_m / workspace_max_m)")
        if p[2] < self.table_z_m:
            return (f"{what} z = {p[2]:.4f} m is below the table top at {self.table_z_m:g} m "
                    "(the scene's table_z_m)")
        return None


@dataclass(frozen=True)
class TcpCheck:
    """The TCP offset that the controller must report, and how closely."""

    offset: tuple[float, float, float, float, float, float] = (0.0, 0.0, 0.06, 0.0, 0.0, 0.0)
    tolerance_m: float = 0.001
    tolerance_rad: float = math.radians(1.0)

    def __post_init__(self) -> None:
        if len(self.offset) != 6 or not all(math.isfinite(v) for v in self.offset):
            raise ValueError(f"tcp_offset = {list(self.offset)} must be 6 finite numbers [x, y, z, rx, ry, rz] "
                             "(m, rad), the TCP set on the pendant")

    def problem(self, reported: Pose) -> str | None:
        """Why the controller's TCP offset ``reported`` does not match, or None."""
        r = np.asarray(reported, dtype=float)
        c = np.asarray(self.offset, dtype=float)
        distance = float(np.linalg.norm(r[:3] - c[:3]))
        angle = rotation_between_rad(rotvec_to_matrix(r[3:]), rotvec_to_matrix(c[3:]))
        if distance <= self.tolerance_m and angle <= self.tolerance_rad:
            return None
        return (f"the controller's TCP offset is {np.round(r, 4).tolist()} but tcp_offset = {list(self.offset)} "
                f"({distance * 1000:.1f} mm, {math.degrees(angle):.1f} deg apart; allowed {self.tolerance_m * 1000:g} "
                f"mm, {math.degrees(self.tolerance_rad):g} deg): set the TCP on the pendant (Installation > TCP) to the "
                "gel centre, or correct tcp_offset")
