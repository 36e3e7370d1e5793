"""A DIGIT-like tactile image renderer: the gel's view of a pressed object.

One frame is made in four steps:

1. the dent: the contact law (``ContactModel.press``, on a gel domed like a DIGIT's) gives the
   gel's share of the approach and the contact size for the object's shape, material
   stiffness and the force;
   ``imprint.dent`` turns them into the gel surface's displacement and the contact pressure;
2. the micro-texture: the material's surface pattern (``textures``), in the object's frame,
   turned by the angle between object and tool and pressed into the gel where the contact
   pressure is high enough for the gel to conform to it;
3. shading: surface normals lit by the sensor's three coloured LEDs (``gel_lighting``), added
   to the sensor's own no-contact image;
4. sensor noise: Gaussian, ``noise_sigma`` grey levels (``sensor_noise``: a sampler fast enough
   for 60 fps).

As under a real gel's opaque coating, a material shows itself only by its shape,
micro-geometry and compliance: colour and gloss in the library are never used.

Frame geometry: portrait, ``(320, 240, 3)`` BGR uint8 for QVGA (``(640, 480, 3)`` for VGA),
as ``digit_interface.Digit.get_frame()`` returns it. Image columns run along the tool's x
axis and rows along its y axis (tool Z points down into the object; the axes of
``Scene.contact_under``), so the image is a top view of the object: an offset (+x, +y) puts
the contact right of and below the centre, and turning the tool by +theta about base Z turns
the object's texture by theta clockwise on the image.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable

import cv2
import numpy as np

from tactile_material_ros.sim.contact_model import DIGIT_DOME_RADIUS_M, GEL_FIELD_M, ContactModel, Shape
from tactile_material_ros.sim.gel_lighting import GelLighting, make_lighting
from tactile_material_ros.sim.imprint import dent
from tactile_material_ros.sim.materials import MaterialLibrary, default_library
from tactile_material_ros.sim.scene import SceneContact
from tactile_material_ros.sim.sensor_noise import standard_normal
from tactile_material_ros.sim.textures import TILE_PITCH_M, TILE_PX, texture_tile

RESOLUTIONS: dict[str, tuple[int, int]] = {"QVGA": (320, 240), "VGA": (640, 480)}  # (rows, columns), portrait
# Per-pixel noise of real DIGIT frames, measured as the high-pass residual of the frames in
# real DIGIT frames (1.3-2.5 grey levels per channel; TACTO adds sigma 7 as augmentation).
DEFAULT_NOISE_SIGMA = 2.0
# Contact pressure at which the gel takes about 63% of a texture's relief (1 - exp(-p / P)):
# a 24 N press of a rigid flat face (about 100 kPa mean over its 8.8 mm patch on the domed gel)
# shows a texture fully, a press at a fifth of that pressure half.
CONFORM_PRESSURE_PA = 20e3
# How far a texture patch may move on the tile (px each way) before it repeats.
_PATCH_RANGE_PX = 100.0
# (generator, shape) -> standard normal float32 values of that shape
NoiseSampler = Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]


class DigitRenderer:
    """Renders one simulated DIGIT: fixed lighting and background (``background_seed``), any contact."""

    def __init__(
        self,
        library: MaterialLibrary | None = None,
        resolution: str = "QVGA",
        background_seed: int = 0,
        noise_sigma: float = DEFAULT_NOISE_SIGMA,
        gel_contact: ContactModel | None = None,
        noise_sampler: NoiseSampler = standard_normal,
        dome_radius_m: float = DIGIT_DOME_RADIUS_M,
    ) -> None:
        """``dome_radius_m``: the gel's dome (``contact_model.DIGIT_DOME_RADIUS_M``; ``math.inf`` for a flat
        gel, on which a flat face leaves no visible imprint); ignored when ``gel_contact`` is given."""
        if resolution not in RESOLUTIONS:
            raise ValueError(f"resolution {resolution!r} is not a DIGIT stream; use one of {', '.join(RESOLUTIONS)}")
        if not noise_sigma >= 0.0:
            raise ValueError(f"noise_sigma must be >= 0 grey levels, got {noise_sigma}")
        self.library = library or default_library()
        self.resolution = resolution
        self.background_seed = int(background_seed)
        self.noise_sigma = float(noise_sigma)
        self.noise_sampler = noise_sampler
        self.contact_model = gel_contact or ContactModel(self.library.gel, dome_radius_m)
        self.shape_hw = RESOLUTIONS[resolution]
        rows, cols = self.shape_hw
        self.pitch_m = GEL_FIELD_M[0] / cols
        self.lighting: GelLighting = make_lighting(rows, cols, self.pitch_m, self.background_seed)
        y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
        # tool-frame coordinates of the pixels [m]: x along columns, y along rows, origin at the centre
        self._x = (x - (cols - 1) / 2.0) * self.pitch_m
        self._y = (y - (rows - 1) / 2.0) * self.pitch_m
        self._background_u8 = np.round(self.lighting.background).astype(np.uint8)

    # ------------------------------------------------------------------ no contact

    def background(self) -> np.ndarray:
        """This sensor's noiseless no-contact frame (uint8, BGR)."""
        return self._background_u8.copy()

    def no_contact(self, rng: np.random.Generator | None = None) -> np.ndarray:
        """A no-contact frame: the background plus sensor noise."""
        return self._finish(self.lighting.background.copy(), rng)

    # ------------------------------------------------------------------ contact

    def render(
        self,
        material: str,
        shape: Shape,
        force_n: float,
        tool_angle_rad: float = 0.0,
        offset_m: tuple[float, float] = (0.0, 0.0),
        rng: np.random.Generator | None = None,
        *,
        patch_m: tuple[float, float] | None = None,
    ) -> np.ndarray:
        """A frame of ``shape`` made of ``material`` pressed with ``force_n`` [N].

        ``tool_angle_rad``: the tool's yaw relative to the object's (the texture turns by it,
        clockwise on the image); ``offset_m``: the contact centre relative to the gel centre in
        tool x/y [m]; ``patch_m``: which point of the object's texture lies at the contact
        centre (object frame, m); None draws one from ``rng``.
        """
        if rng is None:
            rng = np.random.default_rng()
        if patch_m is None:
            patch_m = (float(rng.uniform(-1.0, 1.0)) * _PATCH_RANGE_PX * TILE_PITCH_M,
                       float(rng.uniform(-1.0, 1.0)) * _PATCH_RANGE_PX * TILE_PITCH_M)
        return self._render(material, shape, force_n, tool_angle_rad, offset_m, patch_m, rng)

    def render_scene_contact(
        self,
        contact: SceneContact | None,
        force_n: float,
        tool_angle_rad: float,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """A frame of the scene contact found by ``Scene.contact_under`` (None: no contact).

        ``tool_angle_rad`` is the tool's yaw about base Z, the angle given to ``contact_under``;
        ``force_n`` is the measured normal force; where the contact exists but no force has
        been measured yet, the force follows from the interference depth by the contact law.
        The texture patch is fixed per object, so the same spot of an object looks the same
        in every press, turned by the tool's rotation.
        """
        if rng is None:
            rng = np.random.default_rng()
        if contact is None:
            return self.no_contact(rng)
        obj = contact.obj
        material = self.library.get(obj.material)
        if force_n <= 0.0:
            force_n = self.contact_model.force_at_depth(obj.shape, material.elastic, contact.depth_m)
        seed = zlib.crc32(obj.name.encode())
        patch = (((seed & 0xFFFF) / 0xFFFF - 0.5) * _PATCH_RANGE_PX * TILE_PITCH_M,
                 ((seed >> 16) / 0xFFFF - 0.5) * _PATCH_RANGE_PX * TILE_PITCH_M)
        return self._render(obj.material, obj.shape, force_n, tool_angle_rad - obj.yaw_rad,
                            contact.offset_in_tool_m, patch, rng)

    # ------------------------------------------------------------------ internals

    def _render(self, material_name: str, shape: Shape, force_n: float, relative_yaw_rad: float,
                offset_m: tuple[float, float], patch_m: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
        """``relative_yaw_rad``: tool yaw minus object yaw (about base Z)."""
        if force_n < 0.0:
            raise ValueError(f"force must be >= 0 N, got {force_n}")
        material = self.library.get(material_name)
        if force_n == 0.0:
            return self.no_contact(rng)
        contact = self.contact_model.press(shape, material.elastic, force_n)
        x = self._x - np.float32(offset_m[0])
        y = self._y - np.float32(offset_m[1])
        # the object's x axis (a cylinder's axis, a flat face's edge) lies at +relative_yaw in tool axes
        apex = (-offset_m[0], -offset_m[1]) if self.contact_model.domed else None  # the gel centre
        height, pressure = dent(shape, contact, x, y, relative_yaw_rad, apex)
        relief = self._texture(material_name, relative_yaw_rad, offset_m, patch_m)
        height += relief * (1.0 - np.exp(pressure * np.float32(-1.0 / CONFORM_PRESSURE_PA)))
        # slopes in image axes (columns right, rows down); h is towards the camera
        kernel = np.array([[-0.5, 0.0, 0.5]], np.float32) / np.float32(self.pitch_m)
        grad_x = cv2.filter2D(height, -1, kernel, borderType=cv2.BORDER_REPLICATE)
        grad_y = cv2.filter2D(height, -1, kernel.T, borderType=cv2.BORDER_REPLICATE)
        image = self.lighting.background + self.lighting.shade(grad_x, grad_y)
        return self._finish(image, rng)

    def _texture(self, material_name: str, relative_yaw_rad: float, offset_m: tuple[float, float],
                 patch_m: tuple[float, float]) -> np.ndarray:
        """The material's relief [m] under each pixel: its tile sampled in the object's frame.

        A tool-axis vector (a, b) is, in the object's frame (z up), (a cos d + b sin d, a sin d - b cos d)
        with d the relative yaw (tool y points along -y of a frame with z up); the tile's rows run
        along the object's -y, so tile pixels follow from image pixels by a rotation by -d.
        """
        tile = texture_tile(self.library.get(material_name).texture)
        rows, cols = self.shape_hw
        c, s = math.cos(relative_yaw_rad), math.sin(relative_yaw_rad)
        scale = self.pitch_m / TILE_PITCH_M
        linear = scale * np.array([[c, s], [-s, c]])
        # the contact centre (offset, in tool axes) maps to the tile centre plus the patch
        centre_px = np.array([(cols - 1) / 2.0, (rows - 1) / 2.0]) + np.asarray(offset_m) / self.pitch_m
        patch_px = (np.asarray(patch_m) / TILE_PITCH_M + _PATCH_RANGE_PX) % (2 * _PATCH_RANGE_PX) - _PATCH_RANGE_PX
        target = np.array([TILE_PX / 2.0, TILE_PX / 2.0]) + patch_px * np.array([1.0, -1.0])
        matrix = np.hstack([linear, (target - linear @ centre_px)[:, None]]).astype(np.float32)
        return cv2.warpAffine(tile, matrix, (cols, rows), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REFLECT)

    def _finish(self, image: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        if self.noise_sigma > 0.0:
            rng = rng if rng is not None else np.random.default_rng()
            image += self.noise_sampler(rng, image.shape) * np.float32(self.noise_sigma)
        np.clip(image, 0.0, 255.0, out=image)
        return (image + 0.5).astype(np.uint8)
