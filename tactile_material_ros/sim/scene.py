"""The scene: objects of known material, shape and pose on the table in the robot's base frame.

One YAML file (``config/scene_four_balls.yaml``) is read by the simulated arm (to make
contact forces) and by the simulated DIGIT (to render the imprint), so the two agree.
Objects rest on the table, a horizontal plane at ``table_z_m`` (base frame); palpation
approaches them straight down (tool Z = -base Z). Every number in the file must be finite, and
no object may reach below the table top: the loader refuses anything else with the entry's name.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from tactile_material_ros.paths import config_file
from tactile_material_ros.sim.contact_model import Cylinder, Flat, Shape, Sphere, shape_from_dict, shape_height_m
from tactile_material_ros.sim.materials import MaterialLibrary, default_library

TABLE_TOLERANCE_M = 0.001   # an object may sink this far into the table top (measurement error)


class SceneError(ValueError):
    """The scene file is malformed or names something unknown."""


@dataclass(frozen=True)
class SceneObject:
    name: str
    material: str
    shape: Shape
    position_m: tuple[float, float, float]   # centre of the shape (flat: centre of its top face)
    yaw_rad: float = 0.0                      # cylinder axis direction in the table plane

    @property
    def bottom_z_m(self) -> float:
        """The lowest point of the object (flat: the top face minus its slab thickness)."""
        z = self.position_m[2]
        if isinstance(self.shape, (Sphere, Cylinder)):
            return z - self.shape.radius_m
        return z - shape_height_m(self.shape)

    @property
    def top_m(self) -> np.ndarray:
        """The highest point of the object: where a palpation presses."""
        x, y, z = self.position_m
        if isinstance(self.shape, (Sphere, Cylinder)):
            return np.array([x, y, z + self.shape.radius_m])
        return np.array([x, y, z])

    def surface_z(self, x: float, y: float) -> float | None:
        """Height of the object's upper surface above (x, y), or None if (x, y) misses it."""
        cx, cy, cz = self.position_m
        dx, dy = x - cx, y - cy
        if isinstance(self.shape, Sphere):
            r2 = dx * dx + dy * dy
            return cz + math.sqrt(self.shape.radius_m**2 - r2) if r2 < self.shape.radius_m**2 else None
        if isinstance(self.shape, Cylinder):
            c, s = math.cos(self.yaw_rad), math.sin(self.yaw_rad)
            along, across = c * dx + s * dy, -s * dx + c * dy
            if abs(along) > self.shape.length_m / 2 or abs(across) >= self.shape.radius_m:
                return None
            return cz + math.sqrt(self.shape.radius_m**2 - across**2)
        half = self.shape.size_m / 2
        return cz if abs(dx) <= half and abs(dy) <= half else None


@dataclass(frozen=True)
class SceneContact:
    """Where the gel meets an object: the object, the interference depth and the offset."""

    obj: SceneObject
    depth_m: float                      # how far the gel surface is below the object's surface
    offset_in_tool_m: tuple[float, float]  # object top relative to the gel centre, tool x/y axes


@dataclass(frozen=True)
class Scene:
    frame: str
    objects: tuple[SceneObject, ...]
    source: str = ""
    table_z_m: float = 0.0              # height of the table top in the base frame
    library: MaterialLibrary = field(default_factory=default_library, repr=False, compare=False)

    @property
    def names(self) -> list[str]:
        return [o.name for o in self.objects]

    def get(self, name: str) -> SceneObject:
        for obj in self.objects:
            if obj.name == name:
                return obj
        raise KeyError(f"no object {name!r} in the scene {self.source}; objects: {', '.join(self.names)}")

    def contact_under(self, tcp_xyz: np.ndarray, tool_yaw_rad: float) -> SceneContact | None:
        """The object the downward-facing gel at ``tcp_xyz`` touches, if any (deepest wins)."""
        best: SceneContact | None = None
        for obj in self.objects:
            z = obj.surface_z(float(tcp_xyz[0]), float(tcp_xyz[1]))
            if z is None:
                continue
            depth = z - float(tcp_xyz[2])
            if depth <= 0.0 or (best is not None and depth <= best.depth_m):
                continue
            d = obj.top_m[:2] - np.asarray(tcp_xyz[:2], dtype=float)
            # tool pointing down: x_tool = (cos yaw, sin yaw, 0), y_tool = z_tool x x_tool = (sin yaw, -cos yaw, 0)
            c, s = math.cos(tool_yaw_rad), math.sin(tool_yaw_rad)
            best = SceneContact(obj, depth, (float(c * d[0] + s * d[1]), float(s * d[0] - c * d[1])))
        return best


def _numbers(values: Iterable[object]) -> list[float]:
    return [float(v) for v in values]  # type: ignore[arg-type]


def _finite(path: Path, what: str, values: list[float]) -> None:
    bad = [v for v in values if not math.isfinite(v)]
    if bad:
        raise SceneError(f"{path}: {what} = {values} is not finite; every position and size must be a finite "
                         "number in metres (radians for rpy)")


def load_scene(path: str | Path | None = None, library: MaterialLibrary | None = None) -> Scene:
    """Load and validate a scene YAML (default: the package's four-ball scene)."""
    path = Path(path) if path is not None else config_file("scene_four_balls.yaml")
    library = library or default_library()
    try:
        with open(path) as f:
            raw = yaml.safe_load(f)
    except OSError as exc:
        raise SceneError(f"cannot read scene file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SceneError(f"{path} is not valid YAML (plain YAML only, no !!python tags): "
                         f"{' '.join(str(exc).split())}") from None
    if not isinstance(raw, dict):
        raise SceneError(f"{path}: a scene is a mapping with frame, table_z_m and objects; got {type(raw).__name__}")
    try:
        table_z = float(raw.get("table_z_m", 0.0))
    except (TypeError, ValueError):
        raise SceneError(f"{path}: table_z_m = {raw.get('table_z_m')!r} must be a number (metres)") from None
    _finite(path, "table_z_m", [table_z])
    objects = []
    for i, entry in enumerate(raw.get("objects") or []):
        try:
            name, material = str(entry["name"]), str(entry["material"])
            pose = entry["pose"]
            xyz = tuple(_numbers(pose["xyz"]))
            rpy = _numbers(pose.get("rpy") or [0.0, 0.0, 0.0])
            sizes = _numbers(entry[k] for k in ("radius_m", "length_m", "size_m") if k in entry)
        except (KeyError, TypeError, ValueError) as exc:
            raise SceneError(f"{path}: object #{i} is malformed ({exc}); each object needs name, material, "
                             "shape (sphere|cylinder|flat), its size in metres and pose {xyz, rpy}") from None
        _finite(path, f"object {name!r} pose.xyz", list(xyz))
        _finite(path, f"object {name!r} pose.rpy", rpy)
        _finite(path, f"object {name!r} size", sizes)
        try:
            shape = shape_from_dict(entry)
        except (KeyError, TypeError, ValueError) as exc:
            raise SceneError(f"{path}: object {name!r} has a bad shape ({exc})") from None
        if material not in library.materials:
            raise SceneError(f"{path}: object {name!r} has unknown material {material!r}; known: {', '.join(library.names)}")
        if len(xyz) != 3 or len(rpy) != 3:
            raise SceneError(f"{path}: object {name!r} pose.xyz and pose.rpy need 3 values each, got "
                             f"{len(xyz)} and {len(rpy)}")
        obj = SceneObject(name, material, shape, xyz, rpy[2])  # type: ignore[arg-type]
        if obj.bottom_z_m < table_z - TABLE_TOLERANCE_M:
            raise SceneError(f"{path}: object {name!r} reaches {(table_z - obj.bottom_z_m) * 1000:.1f} mm below the "
                             f"table top (table_z_m = {table_z:g}); objects rest on the table: its centre z must be "
                             f"at least table_z_m + its radius (flat: its top face at least table_z_m + 0.01)")
        objects.append(obj)
    if not objects:
        raise SceneError(f"{path}: the scene has no objects")
    if len({o.name for o in objects}) != len(objects):
        raise SceneError(f"{path}: object names must be unique")
    return Scene(str(raw.get("frame", "base")), tuple(objects), str(path), table_z, library)


__all__ = ["Flat", "Scene", "SceneContact", "SceneError", "SceneObject", "load_scene"]
