"""The gel's dent under a pressed object: displacement and contact pressure on the pixel grid.

Given the contact state from ``ContactModel.press`` (total approach d, the gel's share of
it, the contact radius a or half-width b), the gel surface moves towards the camera by

- sphere (Hertz, Johnson *Contact Mechanics* eq. 3.41-3.42): inside the contact
  h = h0 (1 - r^2 / (2 a^2)); outside h = h0 / (pi a^2) [(2 a^2 - r^2) asin(a/r) + a sqrt(r^2 - a^2)],
  which is h0 / 2 at the rim and continuous with the inside;
- cylinder: the same profile across the axis (|u| against b), over the contact length;
- flat face: h0 over the face on a flat gel; on a domed gel (``ContactModel.dome_radius_m``)
  the sphere's profile, with the contact radius of the dome's Hertz law: inside the patch the
  gel is pushed flat, h = h0 - r^2 / (2 R_dome) (the overlap of the face and the dome), so the
  shading shows a patch that grows with the force;

where h0 is the gel's share of the approach. Outside the contact the half-space solution
is damped by exp(-(s / DECAY_LENGTH_M)^2) (s: distance beyond the rim, DECAY_LENGTH_M a quarter of the gel's thickness), because the gel is a
thin layer bonded to a rigid window and its dent does not spread further than a few
thicknesses. Pressure: Hertz p0 sqrt(1 - r^2/a^2) with p0 = 3F / (2 pi a^2) (sphere),
p0 = 2F / (pi b L) (cylinder), F / area (flat). A soft object takes most of the approach
itself (small h0) and spreads the load (large a): a shallow, wide dent with gentle edges;
a stiff object leaves the whole approach to the gel over a small a: a deep, sharp one.
"""

from __future__ import annotations

import math

import numpy as np

from tactile_material_ros.sim.contact_model import (
    GEL_PAD_RADIUS_M,
    GEL_THICKNESS_M,
    Contact,
    Cylinder,
    Flat,
    Shape,
    Sphere,
)


def _hertz_profile(rho: np.ndarray) -> np.ndarray:
    """Hertz surface displacement over its centre value, at rho = distance / contact radius (>= 0)."""
    out = np.empty_like(rho)
    inside = rho <= 1.0
    ri = rho[inside]
    out[inside] = 1.0 - 0.5 * ri * ri
    ro = rho[~inside]
    out[~inside] = ((2.0 - ro * ro) * np.arcsin(1.0 / ro) + np.sqrt(ro * ro - 1.0)) / np.pi
    return out


def _hertz_pressure(rho: np.ndarray, p0: float) -> np.ndarray:
    return p0 * np.sqrt(np.clip(1.0 - rho * rho, 0.0, None))


# Decay length of a dent beyond the contact rim: a fraction of the gel's thickness, because
# the layer is bonded to a rigid window (its surface cannot sag far from the load).
DECAY_LENGTH_M = GEL_THICKNESS_M / 4.0


def _thin_layer(beyond_m: np.ndarray) -> np.ndarray:
    """Damping of the dent beyond the rim: Gaussian in the distance, so the slope stays continuous at the rim."""
    s = np.clip(beyond_m, 0.0, None) * (1.0 / DECAY_LENGTH_M)
    return np.exp(-s * s)


def _radial_dent(contact: Contact, x_m: np.ndarray, y_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Hertz dent and pressure of a circular contact of the contact's radius."""
    a = contact.contact_radius_m
    r = np.sqrt(x_m * x_m + y_m * y_m)
    rho = r / a
    height = contact.gel_depth_m * _hertz_profile(rho) * _thin_layer(r - a)
    pressure = _hertz_pressure(rho, 3.0 * contact.force_n / (2.0 * math.pi * a * a))
    return height, pressure


def dent(shape: Shape, contact: Contact, x_m: np.ndarray, y_m: np.ndarray, axis_angle_rad: float = 0.0,
         dome_apex_m: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Gel displacement towards the camera [m] and contact pressure [Pa] at points (x_m, y_m).

    Coordinates are relative to the object's centre; ``axis_angle_rad`` is the direction of a
    cylinder's axis (or a flat face's edges) in the same axes. ``dome_apex_m``: where a domed
    gel's apex lies in these coordinates, for a contact from a domed gel's law
    (``ContactModel.domed``; None: a flat gel). A flat face touches a dome first at its apex,
    so that is its patch's centre (a sphere's contact moves towards the apex only by
    offset · R / (R + R_dome), under 1 mm here, which is left out).
    """
    h0 = contact.gel_depth_m
    if h0 <= 0.0 or contact.force_n <= 0.0:
        zero = np.zeros_like(x_m)
        return zero, zero
    if isinstance(shape, Sphere):
        height, pressure = _radial_dent(contact, x_m, y_m)
        return height.astype(np.float32), pressure.astype(np.float32)
    c, s = math.cos(axis_angle_rad), math.sin(axis_angle_rad)
    along = c * x_m + s * y_m
    across = -s * x_m + c * y_m
    if isinstance(shape, Cylinder):
        b = contact.contact_radius_m
        half_length = contact.contact_length_m / 2.0
        rho = np.abs(across) / b
        beyond_end = np.abs(along) - half_length
        height = h0 * _hertz_profile(rho) * _thin_layer(np.abs(across) - b) * _thin_layer(beyond_end)
        p0 = 2.0 * contact.force_n / (math.pi * b * contact.contact_length_m)
        pressure = _hertz_pressure(rho, p0) * (beyond_end <= 0.0)
        return height.astype(np.float32), pressure.astype(np.float32)
    assert isinstance(shape, Flat)
    half = shape.size_m / 2.0
    beyond = np.maximum(np.abs(along), np.abs(across)) - half
    if dome_apex_m is not None:  # the dome's patch, cut off where a face smaller than the gel ends
        height, pressure = _radial_dent(contact, x_m - np.float32(dome_apex_m[0]), y_m - np.float32(dome_apex_m[1]))
        edge = _thin_layer(beyond)
        return (height * edge).astype(np.float32), (pressure * (beyond <= 0.0)).astype(np.float32)
    height = h0 * _thin_layer(beyond)
    area = min(shape.size_m**2, math.pi * GEL_PAD_RADIUS_M**2)
    pressure = np.where(beyond <= 0.0, contact.force_n / area, 0.0)
    return height.astype(np.float32), pressure.astype(np.float32)
