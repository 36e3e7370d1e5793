"""Contact law between the DIGIT gel and an object: force <-> indentation and contact size.

Elastic contact after Johnson, *Contact Mechanics* (1985):
- sphere (Hertz, §4.2): F = 4/3 E* sqrt(R) d^(3/2), contact radius a = sqrt(R d);
- cylinder, axis parallel to the gel (line contact of length L, §4.3): F = (pi/4) E* L d
  (the usual linearised form), half-width b = sqrt(4 F R / (pi L E*));
- flat face larger than the gel (rigid flat punch of the gel's equivalent radius, §3.8):
  F = 2 a E* d, the whole pad in contact.
E* is the combined modulus, 1/E* = (1-nu_gel^2)/E_gel + (1-nu_obj^2)/E_obj. The total
approach d is shared between gel and object in proportion to their compliance: a soft
object takes most of it, a stiff one leaves it all to the gel.

A domed gel (``dome_radius_m``, its surface a sphere cap of that radius bulging towards the
object) adds its curvature to the object's: two curved bodies touch like a sphere of the
relative radius R' = (1/R + 1/R_dome)^-1 on a flat (Johnson §4.2), so a sphere is pressed with
R' instead of R, a cylinder across its axis likewise, and a flat face becomes a Hertz contact
of radius R_dome: its contact patch a = sqrt(R_dome d) grows with the force instead of
covering the whole gel at once. The gel's finite size is left out (a flat face's patch may
grow beyond the pad, where Hertz underestimates the stiffness), and a cylinder keeps its line
length (the dome's curvature along the axis is not modelled). An infinite radius is the flat
gel of the rigid-punch law above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tactile_material_ros.sim.materials import Elastic

# DIGIT sensing field (portrait): ~16 mm wide x 21.3 mm tall imaged onto 240 x 320 px
# (Lambeta et al., "DIGIT", RA-L 2020 gives a 19 x 16 mm field; we keep the 3:4 frame ratio).
GEL_FIELD_M = (0.016, 0.0213)
GEL_PAD_RADIUS_M = math.sqrt(GEL_FIELD_M[0] * GEL_FIELD_M[1] / math.pi)
GEL_THICKNESS_M = 0.003
# The gel's dome: radius of curvature of its untouched surface. TACTO's DIGIT model (its
# published config_digit.yml) bends the gel to a radius of 0.1 m; over our 16 x 21.3 mm field
# that is a sag of 0.32 mm at the short sides, 0.57 mm at the long ones and 0.89 mm at the
# corners (a few tenths of a mm to ~1 mm, as a cast elastomer's meniscus gives). With it a
# 24 N press of a rigid flat face touches a disc of 8.8 mm radius (0.8 mm approach): the
# field's width but not its corners; 12 N: 7.0 mm; 36 N: 10.1 mm.
DIGIT_DOME_RADIUS_M = 0.1


@dataclass(frozen=True)
class Sphere:
    radius_m: float

    def __post_init__(self) -> None:
        if not self.radius_m > 0:
            raise ValueError(f"sphere radius must be > 0 m, got {self.radius_m}")


@dataclass(frozen=True)
class Cylinder:
    """A cylinder lying with its axis parallel to the gel."""

    radius_m: float
    length_m: float

    def __post_init__(self) -> None:
        if not (self.radius_m > 0 and self.length_m > 0):
            raise ValueError(f"cylinder radius and length must be > 0 m, got {self}")


@dataclass(frozen=True)
class Flat:
    """A flat face at least as large as the gel."""

    size_m: float = 0.05


Shape = Sphere | Cylinder | Flat


def shape_from_dict(raw: dict) -> Shape:
    """Build a shape from a scene entry: {shape: sphere, radius_m} | {shape: cylinder, radius_m, length_m} | {shape: flat}."""
    kind = raw.get("shape")
    if kind == "sphere":
        return Sphere(float(raw["radius_m"]))
    if kind == "cylinder":
        return Cylinder(float(raw["radius_m"]), float(raw["length_m"]))
    if kind == "flat":
        return Flat(float(raw.get("size_m", 0.05)))
    raise ValueError(f"unknown shape {kind!r}; use sphere, cylinder or flat")


def shape_height_m(shape: Shape) -> float:
    """Height of the shape's top above its support plane (flat objects: 10 mm thick slab)."""
    if isinstance(shape, (Sphere, Cylinder)):
        return 2.0 * shape.radius_m
    return 0.01


@dataclass(frozen=True)
class Contact:
    """One static contact state."""

    force_n: float
    depth_m: float           # total approach (what the robot travels past first touch)
    gel_depth_m: float       # the part of it taken by the gel (what the camera sees)
    contact_radius_m: float  # sphere/flat: radius; cylinder: half-width across the axis
    contact_length_m: float  # cylinder: length in contact; otherwise 2 * radius


class ContactModel:
    """Force/indentation for one gel against any object material and shape.

    ``dome_radius_m``: the untouched gel surface's radius of curvature (``math.inf``: flat, the
    default, as the simulated arm's contact law).
    """

    def __init__(self, gel: Elastic, dome_radius_m: float = math.inf) -> None:
        if not dome_radius_m > 0.0:
            raise ValueError(f"dome_radius_m must be > 0 m (math.inf for a flat gel), got {dome_radius_m}")
        self.gel = gel
        self.dome_radius_m = float(dome_radius_m)

    @property
    def domed(self) -> bool:
        return math.isfinite(self.dome_radius_m)

    def relative_radius(self, radius_m: float) -> float:
        """R' = (1/R + 1/R_dome)^-1: the radius of a sphere on a flat gel that touches like ``radius_m`` on this gel."""
        return 1.0 / (1.0 / radius_m + 1.0 / self.dome_radius_m)

    def _hertz_radius(self, shape: Shape) -> float | None:
        """The radius of the Hertz law for a sphere or a flat face on a domed gel; None for line and punch contacts."""
        if isinstance(shape, Sphere):
            return self.relative_radius(shape.radius_m)
        if isinstance(shape, Flat) and self.domed:
            return self.dome_radius_m
        return None

    def effective_modulus(self, material: Elastic) -> float:
        """E* [Pa]."""
        return 1.0 / (self.gel.compliance + material.compliance)

    def gel_share(self, material: Elastic) -> float:
        """Fraction of the total approach taken by the gel."""
        return self.gel.compliance / (self.gel.compliance + material.compliance)

    @staticmethod
    def _line_length(shape: Cylinder) -> float:
        return min(shape.length_m, GEL_FIELD_M[1])

    def force_at_depth(self, shape: Shape, material: Elastic, depth_m: float) -> float:
        """Normal force [N] for a total approach ``depth_m`` (0 for no contact)."""
        if depth_m <= 0.0:
            return 0.0
        e_star = self.effective_modulus(material)
        radius = self._hertz_radius(shape)
        if radius is not None:
            return 4.0 / 3.0 * e_star * math.sqrt(radius) * depth_m**1.5
        if isinstance(shape, Cylinder):
            return math.pi / 4.0 * e_star * self._line_length(shape) * depth_m
        return 2.0 * GEL_PAD_RADIUS_M * e_star * depth_m

    def stiffness_at_depth(self, shape: Shape, material: Elastic, depth_m: float) -> float:
        """dF/dd [N/m], for the simulated arm's admittance loop."""
        if depth_m <= 0.0:
            return 0.0
        e_star = self.effective_modulus(material)
        radius = self._hertz_radius(shape)
        if radius is not None:
            return 2.0 * e_star * math.sqrt(radius * depth_m)
        if isinstance(shape, Cylinder):
            return math.pi / 4.0 * e_star * self._line_length(shape)
        return 2.0 * GEL_PAD_RADIUS_M * e_star

    def depth_at_force(self, shape: Shape, material: Elastic, force_n: float) -> float:
        """Total approach [m] at which the contact carries ``force_n``."""
        if force_n < 0:
            raise ValueError(f"force must be >= 0 N, got {force_n}")
        if force_n == 0.0:
            return 0.0
        e_star = self.effective_modulus(material)
        radius = self._hertz_radius(shape)
        if radius is not None:
            return (3.0 * force_n / (4.0 * e_star * math.sqrt(radius))) ** (2.0 / 3.0)
        if isinstance(shape, Cylinder):
            return 4.0 * force_n / (math.pi * e_star * self._line_length(shape))
        return force_n / (2.0 * GEL_PAD_RADIUS_M * e_star)

    def press(self, shape: Shape, material: Elastic, force_n: float) -> Contact:
        """The contact state when ``shape`` of ``material`` is pressed into the gel with ``force_n``."""
        depth = self.depth_at_force(shape, material, force_n)
        gel_depth = depth * self.gel_share(material)
        hertz_radius = self._hertz_radius(shape)
        if hertz_radius is not None:
            radius = math.sqrt(hertz_radius * depth)
            length = 2.0 * radius
        elif isinstance(shape, Cylinder):
            line = self._line_length(shape)
            across = self.relative_radius(shape.radius_m)
            radius = math.sqrt(4.0 * force_n * across / (math.pi * line * self.effective_modulus(material))) if force_n > 0 else 0.0
            length = line if force_n > 0 else 0.0
        else:
            radius = GEL_PAD_RADIUS_M if force_n > 0 else 0.0
            length = 2.0 * radius
        return Contact(force_n, depth, min(gel_depth, GEL_THICKNESS_M), radius, length)
