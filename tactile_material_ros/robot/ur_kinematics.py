"""Forward and inverse kinematics of a Universal Robots arm from its DH parameters.

The UR10 (CB3) parameters are Universal Robots' published values ("DH parameters for
calculations of kinematics and dynamics"): standard DH, theta offsets all zero, so
``forward(q)`` gives the flange pose that the controller reports in its ``base`` frame.
Inverse kinematics is numeric (damped least squares on the geometric Jacobian) and starts
from the previous joint vector, so joint trajectories stay on one branch as the tool moves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tactile_material_ros.robot.poses import matrix_to_rotvec

JOINT_NAMES = (
    "shoulder_pan_joint",
    "shoulder_lift_joint",
    "elbow_joint",
    "wrist_1_joint",
    "wrist_2_joint",
    "wrist_3_joint",
)


class InverseKinematicsError(ValueError):
    """No joint solution reaches the pose within the joint limits."""


@dataclass(frozen=True)
class DHParameters:
    """Standard Denavit-Hartenberg parameters of a 6-axis arm."""

    d: tuple[float, ...]
    a: tuple[float, ...]
    alpha: tuple[float, ...]
    joint_limit_rad: float = 2.0 * math.pi


UR10 = DHParameters(
    d=(0.1273, 0.0, 0.0, 0.163941, 0.1157, 0.0922),
    a=(0.0, -0.612, -0.5723, 0.0, 0.0, 0.0),
    alpha=(math.pi / 2, 0.0, 0.0, math.pi / 2, -math.pi / 2, 0.0),
)


class URKinematics:
    """Flange or TCP pose from joint angles and back, for one DH table and a TCP offset along flange Z."""

    def __init__(self, dh: DHParameters = UR10, tcp_offset_m: float = 0.0) -> None:
        self.dh = dh
        self.tcp_offset_m = tcp_offset_m

    def _frames(self, q: np.ndarray) -> list[np.ndarray]:
        """Homogeneous transforms base->frame i for i = 0..6, the last one moved to the TCP."""
        frames = [np.eye(4)]
        t = np.eye(4)
        for i in range(6):
            ct, st = math.cos(q[i]), math.sin(q[i])
            ca, sa = math.cos(self.dh.alpha[i]), math.sin(self.dh.alpha[i])
            link = np.array([
                [ct, -st * ca, st * sa, self.dh.a[i] * ct],
                [st, ct * ca, -ct * sa, self.dh.a[i] * st],
                [0.0, sa, ca, self.dh.d[i]],
                [0.0, 0.0, 0.0, 1.0],
            ])
            t = t @ link
            frames.append(t)
        tcp = frames[-1].copy()
        tcp[:3, 3] += tcp[:3, 2] * self.tcp_offset_m
        frames[-1] = tcp
        return frames

    def forward(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """TCP (position, rotation matrix) in the base frame."""
        tcp = self._frames(np.asarray(q, dtype=float))[-1]
        return tcp[:3, 3].copy(), tcp[:3, :3].copy()

    def jacobian(self, q: np.ndarray) -> np.ndarray:
        """6x6 geometric Jacobian of the TCP: rows vx, vy, vz, wx, wy, wz."""
        frames = self._frames(np.asarray(q, dtype=float))
        p_end = frames[-1][:3, 3]
        jac = np.zeros((6, 6))
        for i in range(6):
            z_axis, origin = frames[i][:3, 2], frames[i][:3, 3]
            jac[:3, i] = np.cross(z_axis, p_end - origin)
            jac[3:, i] = z_axis
        return jac

    def inverse(
        self,
        position: np.ndarray,
        rot: np.ndarray,
        seed: np.ndarray,
        *,
        tolerance_m: float = 1e-6,
        max_iterations: int = 100,
    ) -> np.ndarray:
        """Joint angles that put the TCP at (position, rot), found from ``seed`` by damped least squares."""
        q = np.asarray(seed, dtype=float).copy()
        target_p = np.asarray(position, dtype=float)
        target_r = np.asarray(rot, dtype=float)
        damping = 1e-3
        for _ in range(max_iterations):
            p, r = self.forward(q)
            error = np.concatenate([target_p - p, r @ matrix_to_rotvec(r.T @ target_r)])
            if np.linalg.norm(error[:3]) < tolerance_m and np.linalg.norm(error[3:]) < tolerance_m:
                if np.any(np.abs(q) > self.dh.joint_limit_rad):
                    break
                return q
            jac = self.jacobian(q)
            step = jac.T @ np.linalg.solve(jac @ jac.T + damping**2 * np.eye(6), error)
            q = q + step
        raise InverseKinematicsError(
            f"no joint solution for the TCP at {np.round(target_p, 4).tolist()} m "
            f"(rotation vector {np.round(matrix_to_rotvec(target_r), 3).tolist()}) near the current joints; "
            "the pose is out of reach or across a singularity"
        )
