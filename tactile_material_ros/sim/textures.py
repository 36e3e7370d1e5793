"""Surface micro-geometry of each texture kind: a height field the gel takes the imprint of.

Every kind in ``sim.materials.TEXTURE_KINDS`` has one generator here, registered by name.
A generator draws the pattern on a square tile in the object's own frame, in units of the
texture's period (``Texture.scale_m``) and returns heights scaled so that the pattern's
peak height (half its robust peak-to-valley range) is 1; ``texture_tile`` multiplies by
the material's ``amplitude_m``. Patterns are built to be told apart by their geometry
alone, as a gel would feel them: weaves of crossing yarns, rings of loops, grain lines,
pores, knurl diamonds, turning grooves, pebble cells, and so on.

Tiles are deterministic (seeded by the kind's name) and cached, because the renderer
draws many frames of the same material from different patches of one tile.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from functools import lru_cache

import cv2
import numpy as np

from tactile_material_ros.sim.materials import Texture

# Pitch of the texture tiles: one QVGA pixel (16 mm over 240 columns). VGA frames sample
# the same tile with interpolation.
TILE_PITCH_M = 0.016 / 240
# Tile side in pixels: covers the frame diagonal (400 px) at any rotation plus room for
# different patches of the surface to come under the gel.
TILE_PX = 1024

Generator = Callable[[np.random.Generator, int, float], np.ndarray]
_GENERATORS: dict[str, Generator] = {}


def _register(kind: str) -> Callable[[Generator], Generator]:
    def wrap(fn: Generator) -> Generator:
        _GENERATORS[kind] = fn
        return fn
    return wrap


# ----------------------------------------------------------------------------- building blocks


def _coords(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (x right, y down) of an n x n tile, float32."""
    y, x = np.mgrid[0:n, 0:n].astype(np.float32)
    return x, y


def _blur(img: np.ndarray, sx: float, sy: float | None = None) -> np.ndarray:
    sy = sx if sy is None else sy
    return cv2.GaussianBlur(img, (0, 0), sigmaX=max(sx, 0.3), sigmaY=max(sy, 0.3), borderType=cv2.BORDER_REFLECT)


def _noise(rng: np.random.Generator, n: int, sx: float, sy: float | None = None) -> np.ndarray:
    """Gaussian-filtered white noise with zero mean and unit standard deviation.

    Wide filters run on a coarser grid and are interpolated up (same spectrum, far faster).
    """
    sy = sx if sy is None else sy
    step = max(1, int(min(sx, sy) / 3.0))
    m = -(-n // step)
    field = _blur(rng.standard_normal((m, m)).astype(np.float32), sx / step, sy / step)
    if step > 1:
        field = cv2.resize(field, (m * step, m * step), interpolation=cv2.INTER_CUBIC)[:n, :n]
    return (field - field.mean()) / (field.std() + 1e-12)


def _tri(t: np.ndarray) -> np.ndarray:
    """Triangle wave of period 1: 0 at integers, 1 at half-integers."""
    return np.abs(2.0 * (t - np.floor(t + 0.5)))


def _rotate(x: np.ndarray, y: np.ndarray, angle_rad: float) -> tuple[np.ndarray, np.ndarray]:
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return c * x + s * y, -s * x + c * y


def _jittered_points(rng: np.random.Generator, n: int, spacing: float, jitter: float) -> np.ndarray:
    """Points on a square lattice of ``spacing`` px, each moved by up to ``jitter`` * spacing."""
    k = int(math.ceil(n / spacing)) + 2
    gy, gx = np.mgrid[-1:k - 1, -1:k - 1].astype(np.float32)
    pts = np.stack([gx.ravel(), gy.ravel()], axis=1) * spacing
    pts += rng.uniform(-jitter, jitter, pts.shape).astype(np.float32) * spacing
    return pts


def _stamp(n: int, points: np.ndarray, kernel: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Sum of ``kernel`` copies centred on ``points`` (x, y px)."""
    impulses = np.zeros((n, n), np.float32)
    xi = np.round(points[:, 0]).astype(int)
    yi = np.round(points[:, 1]).astype(int)
    keep = (xi >= 0) & (xi < n) & (yi >= 0) & (yi < n)
    w = np.ones(len(points), np.float32) if weights is None else weights.astype(np.float32)
    np.add.at(impulses, (yi[keep], xi[keep]), w[keep])
    return cv2.filter2D(impulses, -1, kernel, borderType=cv2.BORDER_CONSTANT)


def _ellipse_kernel(rx: float, ry: float, angle_rad: float = 0.0, ring: float = 0.0) -> np.ndarray:
    """A smooth bump (ring > 0: an annulus of that relative width) of radii rx, ry px."""
    half = int(math.ceil(max(rx, ry) * 1.6)) + 1
    y, x = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float32)
    u, v = _rotate(x, y, angle_rad)
    r = np.sqrt((u / rx) ** 2 + (v / ry) ** 2)
    if ring > 0:
        return np.exp(-(((r - 1.0) / ring) ** 2)).astype(np.float32)
    return np.clip(1.0 - r * r, 0.0, None).astype(np.float32) ** 0.5


def _worley(rng: np.random.Generator, n: int, spacing: float, jitter: float = 0.45
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distances (px) to the nearest and second-nearest of jittered lattice points, and the nearest one's id."""
    k = int(math.ceil(n / spacing)) + 3
    offs = rng.uniform(-jitter, jitter, (k, k, 2)).astype(np.float32)
    x, y = _coords(n)
    cx = np.floor(x / spacing).astype(int) + 1
    cy = np.floor(y / spacing).astype(int) + 1
    f1 = np.full((n, n), np.inf, np.float32)
    f2 = np.full((n, n), np.inf, np.float32)
    nearest = np.zeros((n, n), np.int64)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            gx, gy = cx + dx, cy + dy
            px = ((gx - 1) + 0.5 + offs[gy, gx, 0]) * spacing
            py = ((gy - 1) + 0.5 + offs[gy, gx, 1]) * spacing
            d = np.sqrt((x - px) ** 2 + (y - py) ** 2)
            f2 = np.minimum(f2, np.maximum(f1, d))
            closer = d < f1
            nearest = np.where(closer, gy * k + gx, nearest)
            f1 = np.minimum(f1, d)
    return f1, f2, nearest


def _yarn(t: np.ndarray) -> np.ndarray:
    """Rounded yarn cross-section across a period-1 coordinate: 1 on the yarn axis, 0 in the gap."""
    return np.clip(np.cos(np.pi * (t - np.floor(t + 0.5))), 0.0, None) ** 0.6


# ----------------------------------------------------------------------------- the 19 kinds
# Each generator: (rng, tile side px, period px) -> height field (any scale; normalised later).


@_register("smooth")
def _smooth(rng: np.random.Generator, n: int, period: float) -> np.ndarray:
    # moulded elastomer: only a faint long-wave waviness
    return _noise(rng, n, 3.0 * period)


@_register("orange_peel")
def _orange_peel(rng: np.random.Generator, n: int, period: float) -> np.ndarray:
    # moulded plastic: shallow rounded dimples about one period across
    f1, _, _ = _worley(rng, n, period, 0.4)
    return -np.minimum(f1 / (0.6 * period), 1.0) ** 2 + 0.15 * _noise(rng, n, period / 4)


@_register("brushed")
def _brushed(rng: np.random.Generator, n: int, period: float) -> np.ndarray:
    # brushed steel: straight V-scratches along x, about five per period, of random depth and length
    count = int(n / period * 5)
    canvas = np.zeros((n, n), np.float32)
    rows = rng.uniform(0, n, count)
    starts = rng.uniform(-n, n, count)
    lengths = rng.uniform(0.5, 2.0, count) * n
    depths = rng.exponential(1.0, count)
    for row, x0, length, depth in zip(rows, starts, lengths, depths, strict=True):
        cv2.line(canvas, (int(x0), int(row)), (int(x0 + length), int(row)), float(depth), 1, cv2.LINE_AA)
    return -_blur(canvas, 2.0, 0.7) + 0.1 * _noise(rng, n, 6.0 * period, period / 4)


@_register("plain_weave")
def _plain_weave(rng: np.random.Generator, n: int, period: float) -> np.ndarray:
    # one yarn over, one under: warp along y, weft along x, crossing every half period
    x, y = _coords(n)
    s = period / 2.0
    ix, iy = np.floor(x / s + 0.5), np.floor(y / s + 0.5)
    warp = _yarn(x / s) * (0.6 + 0.4 * np.cos(np.pi * (y / s + ix)))
    weft = _yarn(y / s) * (0.6 + 0.4 * np.cos(np.pi * (x / s + iy + 1.0)))
    return np.maximum(warp, weft) + 0.08 * _noise(rng, n, period / 8)


@_register("knurled")
def _knurled(rng: np.random.Generator, n: int, period: float) -> np.ndarray:
    # diamond knurl: two sets of V-grooves at +-30 deg from x leave raised pyramids
    x, y = _coords(n)
    u, _ = _rotate(x, y, math.radians(30))
    v, _ = _rotate(x, y, math.radians(-30))
    return np.minimum(_tri(u / period), _tri(v / period)) + 0.05 * _noise(rng, n, 1.0)


@_register("stipple")
def _stipple(rng: np.random.Generator, n: int, period: float) -> np.ndarray:
    # stippled rubber: round domes scattered about one period apart
    pts = _jittered_points(rng, n, period, 0.3)
    return _stamp(n, pts, _ellipse_kernel(0.32 * period, 0.32 * period))


@_register("fleece")
def _fleece(rng: np.random.Generator, n: int, period: float) -> np.ndarray:
    # brushed fleece: a dense felt of short curly fibres (arcs of random radius and turn)
    canvas = np.zeros((n, n), np.float32)
    count = int(3 * n * n / (period * period))
    centres = rng.uniform(0, n, (count, 2))
    radii = rng.uniform(0.3, 0.8, count) * period
    starts = rng.uniform(0, 360, count)
    sweeps = rng.uniform(90, 240, count)
    for (cx, cy), radius, a0, sweep in zip(centres, radii, starts, sweeps, strict=True):
        cv2.ellipse(canvas, (int(cx), int(cy)), (int(radius), int(radius)), 0.0, float(a0), float(a0 + sweep), 1.0, 1,
                    cv2.LINE_AA)
    return np.minimum(_blur(canvas, 0.8), 0.8)


@_register("loop_pile")
def _loop_pile(rng: np.random.Generator, n: int, period: float) -> np.ndarray:
    # terry towel: closely packed yarn loops, seen end-on as rings
    pts = _jittered_points(rng, n, 0.6 * period, 0.25)
    rings = np.zeros((n, n), np.float32)
    for angle in (0.0, 1.0, 2.0):  # loops stand at different angles: ellipses of three orientations
        part = pts[rng.integers(0, 3, len(pts)) == int(angle)]
        rings += _stamp(n, part, _ellipse_kernel(0.32 * period, 0.22 * period, angle, ring=0.3))
    return np.minimum(rings, 1.3)


@_register("cut_pile")
def _cut_pile(rng: np.random.Generator, n: int, period: float) -> np.ndarray:
    # cut-pile carpet: tufts of cut yarn ends in rows, leaning along x (the pile lay)
    tufts = _stamp(n, _jittered_points(rng, n, period / 2, 0.2), _ellipse_kernel(0.38 * period, 0.18 * period, 0.2))
    ends = _stamp(n, rng.uniform(0, n, (n * n // int(period * 2) ** 2 * 6, 2)).astype(np.float32),
                  _ellipse_kernel(0.12 * period, 0.06 * period, 0.2))
    return np.minimum(tufts, 1.2) + 0.5 * ends


@_register("wood_grain")
def _wood_grain(rng: np.random.Generator, n: int, period: float) -> np.ndarray:
    # sawn wood: wavy growth rings along y (hard latewood ridges) with open pores along them
    x, y = _coords(n)
    warp = 1.5 * period * _noise(rng, n, 6.0 * period, 20.0 * period)
    ring = (x + warp) / period
    phase = ring - np.floor(ring)
    latewood = np.exp(-(((phase - 0.75) / 0.12) ** 2))
    pores = _blur((rng.random((n, n)) < 0.01).astype(np.float32), 0.8, 0.35 * period) * (0.35 * period)
    return latewood - 2.0 * pores * (phase < 0.55)


@_register("strands")
def _strands(rng: np.random.Generator, n: int, period: float) -> np.ndarray:
    # stranded cable: rounded helical strands at the lay angle, separated by sharp grooves
    x, y = _coords(n)
    u, _ = _rotate(x, y, math.radians(65))
    strands = np.abs(np.sin(np.pi * u / period)) ** 0.5
    wires = 0.25 * _tri(_rotate(x, y, math.radians(-20))[0] / (period / 4))
    return strands + wires * strands + 0.03 * _noise(rng, n, 1.0)


@_register("laminate")
def _laminate(rng: np.random.Generator, n: int, period: float) -> np.ndarray:
    # embossed wood-look laminate: the "cathedral" figure of flat-sawn boards (nested arches
    # pointing along +y, one board per 1.5 periods), with the print's pore streaks
    x, y = _coords(n)
    board = 1.5 * period
    k = np.floor(x / board)
    centre = (k + 0.5 + 0.2 * np.sin(3.7 * k)) * board
    bend = 3.0 + 1.5 * np.cos(2.3 * k)
    phase = (y + bend * (x - centre) ** 2 / board + 0.3 * period * _noise(rng, n, period, 4 * period)) / (period / 2.5)
    arches = np.exp(-(((phase - np.floor(phase)) - 0.5) / 0.12) ** 2)
    pores = _blur((rng.random((n, n)) < 0.01).astype(np.float32), 0.8, 0.3 * period) * (0.3 * period)
    return arches - 0.8 * pores


@_register("plaster")
def _plaster(rng: np.random.Generator, n: int, period: float) -> np.ndarray:
    # trowelled plaster: flat plateaus with steep edges and small pits
    base = _noise(rng, n, period / 2.5)
    plateaus = np.tanh(3.0 * base)
    pits = _stamp(n, rng.uniform(0, n, (n * n // int(period) ** 2, 2)).astype(np.float32),
                  _ellipse_kernel(0.12 * period, 0.12 * period))
    return plateaus - 1.2 * pits


@_register("knit")
def _knit(rng: np.random.Generator, n: int, period: float) -> np.ndarray:
    # stockinette knit: columns (wales) of V-shaped stitches pointing along y
    x, y = _coords(n)
    col = x / period
    xl = col - np.floor(col) - 0.5  # -0.5..0.5 across a wale
    chevron = _yarn((y / (0.7 * period)) + 1.4 * np.abs(xl))
    wale = np.clip(np.cos(np.pi * xl), 0.0, None) ** 0.3
    return chevron * wale + 0.05 * _noise(rng, n, period / 8)


@_register("paper_fibre")
def _paper_fibre(rng: np.random.Generator, n: int, period: float) -> np.ndarray:
    # paper: a felt of straight cellulose fibres (1.5-4 periods long) at random angles
    canvas = np.zeros((n, n), np.float32)
    count = int(0.5 * n * n / (period * period))
    ends = rng.uniform(0, n, (count, 2))
    angles = rng.uniform(0, np.pi, count)
    length = rng.uniform(1.5, 4.0, count) * period
    for (x0, y0), a, length_px in zip(ends, angles, length, strict=True):
        x1, y1 = x0 + length_px * math.cos(a), y0 + length_px * math.sin(a)
        cv2.line(canvas, (int(x0), int(y0)), (int(x1), int(y1)), 1.0, 2, cv2.LINE_AA)
    return np.minimum(_blur(canvas, 0.8), 1.5) + 0.05 * _noise(rng, n, period)


@_register("pebble_grain")
def _pebble_grain(rng: np.random.Generator, n: int, period: float) -> np.ndarray:
    # pebbled leather: rounded polygonal pebbles separated by narrow creases
    f1, f2, _ = _worley(rng, n, period, 0.4)
    crease = np.clip((f2 - f1) / (0.25 * period), 0.0, 1.0) ** 0.5
    return crease + 0.1 * _noise(rng, n, period / 6)


@_register("granular")
def _granular(rng: np.random.Generator, n: int, period: float) -> np.ndarray:
    # granite: interlocked crystals, each a flat facet tilted its own way, meeting at sharp edges
    _, _, cell = _worley(rng, n, period, 0.45)
    count = int(cell.max()) + 1
    tilt = rng.normal(0.0, 1.0, (count, 2)).astype(np.float32)
    level = rng.normal(0.0, 0.25 * period, count).astype(np.float32)
    x, y = _coords(n)
    flat = cell.ravel()
    area = np.maximum(np.bincount(flat, minlength=count), 1)
    cx = (np.bincount(flat, x.ravel(), count) / area).astype(np.float32)
    cy = (np.bincount(flat, y.ravel(), count) / area).astype(np.float32)
    return level[cell] + tilt[cell, 0] * (x - cx[cell]) + tilt[cell, 1] * (y - cy[cell])


@_register("turned")
def _turned(rng: np.random.Generator, n: int, period: float) -> np.ndarray:
    # turned aluminium: regular feed grooves, arcs of the large turning radius, sawtooth profile
    x, y = _coords(n)
    radius = 400.0 * period
    d = np.sqrt((x - n / 2) ** 2 + (y + radius) ** 2)
    t = d / period
    return (t - np.floor(t)) ** 2 + 0.04 * _noise(rng, n, 4.0 * period)


@_register("basket_weave")
def _basket_weave(rng: np.random.Generator, n: int, period: float) -> np.ndarray:
    # basket weave: square blocks of three parallel yarns, alternating direction
    x, y = _coords(n)
    bx, by = np.floor(x / period), np.floor(y / period)
    along_x = ((bx + by) % 2) == 0
    yarn_pitch = period / 3.0
    across = np.where(along_x, y, x) / yarn_pitch
    return _yarn(across) * (0.85 + 0.15 * np.cos(2 * np.pi * np.where(along_x, x, y) / period)) + 0.06 * _noise(rng, n, 1.0)


# ----------------------------------------------------------------------------- tiles


def generator_kinds() -> tuple[str, ...]:
    """The texture kinds that have a generator (tests check this covers TEXTURE_KINDS)."""
    return tuple(_GENERATORS)


def unit_pattern(kind: str, period_px: float, size_px: int = TILE_PX) -> np.ndarray:
    """The pattern of ``kind`` with its period in pixels, scaled to peak height 1 (float32)."""
    try:
        generator = _GENERATORS[kind]
    except KeyError:
        raise KeyError(f"unknown texture kind {kind!r}; known: {', '.join(_GENERATORS)}") from None
    rng = np.random.default_rng(zlib.crc32(kind.encode()))
    field = generator(rng, size_px, float(period_px)).astype(np.float32)
    field = _blur(field, 0.5)  # the gel's elastic skin smooths sub-pixel detail
    lo, mid, hi = np.percentile(field, [0.5, 50.0, 99.5])
    return ((field - mid) / max((hi - lo) / 2.0, 1e-9)).astype(np.float32)


@lru_cache(maxsize=32)
def _cached_tile(kind: str, scale_m: float, amplitude_m: float) -> np.ndarray:
    if amplitude_m == 0.0:
        tile = np.zeros((TILE_PX, TILE_PX), np.float32)
    else:
        tile = unit_pattern(kind, scale_m / TILE_PITCH_M) * np.float32(amplitude_m)
    tile.setflags(write=False)
    return tile


def texture_tile(texture: Texture) -> np.ndarray:
    """Height field [m] of ``texture`` on a TILE_PX square at TILE_PITCH_M, object frame (x right, y down)."""
    return _cached_tile(texture.kind, texture.scale_m, texture.amplitude_m)


def clear_tile_cache() -> None:
    """Forget the cached tiles (benchmarks time how long making one takes)."""
    _cached_tile.cache_clear()
