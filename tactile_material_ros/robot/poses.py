"""Pose maths for a tool that presses straight down: UR axis-angle poses, rotations, quaternions.

Conventions (also in docs/hardware.md):
- A pose is ``[x, y, z, rx, ry, rz]`` in the robot's ``base`` frame: position in metres and a
  rotation vector (axis times angle, radians), as RTDE reports it. Only the ur_rtde boundary and
  the arm port use this 6-vector; the routine works with a position and a rotation matrix.
- The tool frame's Z axis is the gel normal pointing out of the sensor, into the object.
- The reference "tool down" orientation is ``Rx(pi)``: tool Z along base -Z, tool X along base X.
- The tool angle is the rotation about the tool's own Z axis away from that reference
  (right-hand rule about tool Z, which points down), so ``R = Rx(pi) @ Rz(angle)``. Seen from
  above, a positive tool angle turns the tool clockwise: the tool X axis has the base-frame yaw
  ``-angle``.
"""

from __future__ import annotations

import math

import numpy as np

Pose = np.ndarray  # shape (6,): x, y, z [m], rx, ry, rz [rad, rotation vector]


def rot_x(angle_rad: float) -> np.ndarray:
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_z(angle_rad: float) -> np.ndarray:
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


TOOL_DOWN = rot_x(math.pi)


def rotvec_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    """Rodrigues' formula."""
    rv = np.asarray(rotvec, dtype=float)
    angle = float(np.linalg.norm(rv))
    if angle < 1e-12:
        return np.eye(3)
    k = rv / angle
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + math.sin(angle) * kx + (1.0 - math.cos(angle)) * (kx @ kx)


def wrench_in_tool_axes(wrench_base: np.ndarray, tcp_pose: Pose) -> np.ndarray:
    """A wrench ``[fx, fy, fz, tx, ty, tz]`` given in base-frame axes (as UR's ``actual_TCP_force``)
    expressed in the tool's axes: ``R^T f`` and ``R^T t`` with ``R`` the TCP orientation in base.
    The point it acts at is unchanged (the TCP). Pressing straight down on an object, the tool's
    Z points down, so the object's push shows as ``fz < 0`` (about -24 N at a press)."""
    w = np.asarray(wrench_base, dtype=float)
    rot_t = rotvec_to_matrix(np.asarray(tcp_pose, dtype=float)[3:]).T
    return np.concatenate([rot_t @ w[:3], rot_t @ w[3:]])


def matrix_to_quaternion(rot: np.ndarray) -> np.ndarray:
    """Unit quaternion ``[x, y, z, w]`` with ``w >= 0`` (Shepperd's method, stable near 180 deg)."""
    m = np.asarray(rot, dtype=float)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0.0:
        s = 2.0 * math.sqrt(trace + 1.0)
        q = np.array([(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s])
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = np.array([0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s])
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = np.array([(m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s])
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = np.array([(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s])
    q /= np.linalg.norm(q)
    return -q if q[3] < 0.0 else q


def matrix_to_rotvec(rot: np.ndarray) -> np.ndarray:
    """Rotation vector with angle in [0, pi]."""
    x, y, z, w = matrix_to_quaternion(rot)
    sin_half = math.sqrt(x * x + y * y + z * z)
    if sin_half < 1e-12:
        return np.zeros(3)
    angle = 2.0 * math.atan2(sin_half, w)
    return np.array([x, y, z]) / sin_half * angle


def split_pose(pose: Pose) -> tuple[np.ndarray, np.ndarray]:
    """``[x, y, z, rx, ry, rz]`` -> (position, rotation matrix)."""
    p = np.asarray(pose, dtype=float)
    if p.shape != (6,):
        raise ValueError(f"a pose has 6 values [x, y, z, rx, ry, rz], got shape {p.shape}")
    return p[:3].copy(), rotvec_to_matrix(p[3:])


def make_pose(position: np.ndarray, rot: np.ndarray) -> Pose:
    """(position, rotation matrix) -> ``[x, y, z, rx, ry, rz]``."""
    return np.concatenate([np.asarray(position, dtype=float), matrix_to_rotvec(rot)])


def tool_down(angle_rad: float) -> np.ndarray:
    """The tool pointing straight down, turned ``angle_rad`` about its own Z axis."""
    return TOOL_DOWN @ rot_z(angle_rad)


def tool_angle_rad(rot: np.ndarray) -> float:
    """The tool's turn about its own Z axis relative to ``TOOL_DOWN``, in (-pi, pi]."""
    rel = TOOL_DOWN.T @ np.asarray(rot, dtype=float)
    return math.atan2(rel[1, 0], rel[0, 0])


def tilt_from_down_rad(rot: np.ndarray) -> float:
    """Angle between the tool Z axis and straight down (base -Z)."""
    cos_tilt = float(np.clip(-np.asarray(rot, dtype=float)[2, 2], -1.0, 1.0))
    return math.acos(cos_tilt)


def rotation_between_rad(rot_a: np.ndarray, rot_b: np.ndarray) -> float:
    """Geodesic angle between two orientations."""
    return float(np.linalg.norm(matrix_to_rotvec(np.asarray(rot_a).T @ np.asarray(rot_b))))


def interpolate_rotation(rot_a: np.ndarray, rot_b: np.ndarray, fraction: float) -> np.ndarray:
    """Spherical interpolation from ``rot_a`` (fraction 0) to ``rot_b`` (fraction 1)."""
    delta = matrix_to_rotvec(np.asarray(rot_a).T @ np.asarray(rot_b))
    return np.asarray(rot_a) @ rotvec_to_matrix(delta * fraction)


def wrap_angle_rad(angle_rad: float) -> float:
    """Wrap to (-pi, pi]."""
    wrapped = math.atan2(math.sin(angle_rad), math.cos(angle_rad))
    return math.pi if wrapped == -math.pi else wrapped
