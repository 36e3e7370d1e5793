"""The simulated DIGIT: frame format, the contact law in the image, texture rotation, noise.

Core tests on the renderer alone (no ROS). Imprint sizes are measured on noiseless frames
as the pixels whose colour moved more than ``CHANGED`` grey levels from the background.
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pytest

from tactile_material_ros.sim.contact_model import ContactModel, Cylinder, Flat, Sphere
from tactile_material_ros.sim.digit_renderer import DigitRenderer
from tactile_material_ros.sim.materials import TEXTURE_KINDS, Elastic, MaterialLibrary, default_library
from tactile_material_ros.sim.textures import generator_kinds, unit_pattern

CHANGED = 8.0  # grey levels; the background itself is exact in noiseless frames


@pytest.fixture(scope="module")
def quiet() -> DigitRenderer:
    return DigitRenderer(noise_sigma=0.0)


def _changed(renderer: DigitRenderer, frame: np.ndarray) -> np.ndarray:
    return np.abs(frame.astype(np.float32) - renderer.background()).max(axis=2) > CHANGED


def _equivalent_radius_px(mask: np.ndarray) -> float:
    return math.sqrt(mask.sum() / math.pi)


@pytest.mark.parametrize("resolution, shape", [("QVGA", (320, 240, 3)), ("VGA", (640, 480, 3))])
def test_frames_are_portrait_bgr_uint8(resolution: str, shape: tuple[int, int, int]) -> None:
    renderer = DigitRenderer(resolution=resolution, background_seed=3)
    rng = np.random.default_rng(0)
    for frame in (renderer.background(), renderer.no_contact(rng),
                  renderer.render("leather", Sphere(0.02), 24.0, 0.3, rng=rng),
                  renderer.render("cable", Cylinder(0.008, 0.05), 10.0, 1.0, rng=rng),
                  renderer.render("towel", Flat(), 24.0, rng=rng)):
        assert frame.shape == shape and frame.dtype == np.uint8 and frame.flags.c_contiguous


def test_the_same_press_looks_alike_at_both_resolutions() -> None:
    qvga = DigitRenderer(resolution="QVGA", noise_sigma=0.0).render("metal", Sphere(0.02), 24.0,
                                                                    patch_m=(0.0, 0.0))
    vga = DigitRenderer(resolution="VGA", noise_sigma=0.0).render("metal", Sphere(0.02), 24.0, patch_m=(0.0, 0.0))
    small = cv2.resize(vga, (240, 320), interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(float) - qvga).mean() < 12.0


def test_no_contact_is_the_background_up_to_gaussian_noise() -> None:
    sigma = 7.0
    renderer = DigitRenderer(background_seed=5, noise_sigma=sigma)
    diff = renderer.no_contact(np.random.default_rng(1)).astype(np.float32) - renderer.background()
    inside = (renderer.background() > 4 * sigma).all(axis=2) & (renderer.background() < 255 - 4 * sigma).all(axis=2)
    d = diff[inside]
    assert abs(d.mean()) < 0.2
    assert d.std() == pytest.approx(sigma, rel=0.05)
    assert np.abs(d).max() < 6.5 * sigma
    assert renderer.render("wood", Sphere(0.035), 0.0, rng=np.random.default_rng(1)).shape == (320, 240, 3)


def test_sensors_differ_but_each_is_repeatable() -> None:
    a, b = DigitRenderer(background_seed=1).background(), DigitRenderer(background_seed=2).background()
    assert np.abs(a.astype(float) - b).mean() > 10.0
    assert np.array_equal(a, DigitRenderer(background_seed=1).background())


def test_more_force_makes_a_deeper_and_larger_imprint(quiet: DigitRenderer) -> None:
    model, wood = quiet.contact_model, quiet.library.get("wood").elastic
    forces = (4.0, 12.0, 24.0)
    contacts = [model.press(Sphere(0.02), wood, f) for f in forces]
    assert all(a.gel_depth_m < b.gel_depth_m and a.contact_radius_m < b.contact_radius_m
               for a, b in zip(contacts, contacts[1:], strict=False))
    radii = [_equivalent_radius_px(_changed(quiet, quiet.render("wood", Sphere(0.02), f, patch_m=(0.0, 0.0))))
             for f in forces]
    assert radii[0] < radii[1] < radii[2], radii
    # the dent's slopes grow with its depth: stronger colour change at the rim
    change = [np.abs(quiet.render("silicone", Sphere(0.02), f, patch_m=(0, 0)).astype(float) - quiet.background()).max()
              for f in forces]
    assert change[0] < change[1] <= change[2], change


def _library_with_moduli(moduli: dict[str, float]) -> MaterialLibrary:
    """Copies of silicone (no visible texture) that differ only in Young's modulus."""
    lib = default_library()
    base = lib.get("silicone")
    return MaterialLibrary(lib.gel, {name: dataclasses.replace(base, name=name, elastic=Elastic(e, 0.45))
                                     for name, e in moduli.items()})


def test_stiffer_material_gives_a_smaller_sharper_imprint_at_equal_force() -> None:
    library = _library_with_moduli({"soft": 0.2e6, "medium": 2e6, "stiff": 2e9})
    renderer = DigitRenderer(library, noise_sigma=0.0)
    shape, force = Sphere(0.01), 5.0
    contacts = {n: renderer.contact_model.press(shape, library.get(n).elastic, force) for n in library.names}
    assert contacts["stiff"].contact_radius_m < contacts["medium"].contact_radius_m < contacts["soft"].contact_radius_m
    assert contacts["stiff"].gel_depth_m > contacts["medium"].gel_depth_m > contacts["soft"].gel_depth_m
    radii = {n: _equivalent_radius_px(_changed(renderer, renderer.render(n, shape, force, patch_m=(0, 0))))
             for n in library.names}
    assert radii["stiff"] < radii["medium"] < radii["soft"], radii
    # sharper: the stiff object's steeper dent changes the colours more, on average over its imprint
    strength = {}
    for n in library.names:
        change = np.abs(renderer.render(n, shape, force, patch_m=(0, 0)).astype(np.float32) - renderer.background())
        strength[n] = float(change.max(axis=2)[change.max(axis=2) > CHANGED].mean())
    assert strength["stiff"] > strength["medium"] > strength["soft"] and strength["stiff"] > 1.5 * strength["soft"]


def test_the_rim_is_lit_blue_below_green_upper_left_red_upper_right(quiet: DigitRenderer) -> None:
    frame = quiet.render("plastic", Sphere(0.01), 20.0, patch_m=(0, 0)).astype(np.float32)
    diff = frame - quiet.background()
    rows, cols = np.mgrid[0:320, 0:240]
    for channel, expected_deg in ((0, 82.0), (1, -153.0), (2, -40.0)):
        w = np.clip(diff[..., channel], 0, None)
        angle = math.degrees(math.atan2((w * (rows - 159.5)).sum(), (w * (cols - 119.5)).sum()))
        assert abs((angle - expected_deg + 180) % 360 - 180) < 35, (channel, angle)


def _texture_energy(renderer: DigitRenderer, material: str, angle_rad: float) -> tuple[float, float, float]:
    """(x gradient energy, y gradient energy, std) of a flat press's texture shading, summed over channels.

    With three lights 120 deg apart the summed energy responds to a slope the same in every direction.
    """
    frame = renderer.render(material, Flat(), 24.0, angle_rad, patch_m=(0.0, 0.0)).astype(np.float32)
    diff = (frame - renderer.background())[40:-40, 40:-40]
    ex = sum(float((cv2.Sobel(diff[..., c], cv2.CV_32F, 1, 0) ** 2).mean()) for c in range(3))
    ey = sum(float((cv2.Sobel(diff[..., c], cv2.CV_32F, 0, 1) ** 2).mean()) for c in range(3))
    return ex, ey, float(diff.std())


def test_a_90_degree_turn_turns_an_anisotropic_texture(quiet: DigitRenderer) -> None:
    ex0, ey0, _ = _texture_energy(quiet, "wood", 0.0)
    ex90, ey90, _ = _texture_energy(quiet, "wood", math.pi / 2)
    assert ex0 > 3 * ey0          # grain lines run along y: the relief changes across x
    assert ey90 > 3 * ex90        # turned by 90 deg: now across y
    before = quiet.render("wood", Sphere(0.035), 24.0, 0.0, patch_m=(0, 0)).astype(float)
    after = quiet.render("wood", Sphere(0.035), 24.0, math.pi / 2, patch_m=(0, 0)).astype(float)
    assert np.abs(before - after).mean() > 5.0


def test_a_90_degree_turn_keeps_an_isotropic_textures_statistics(quiet: DigitRenderer) -> None:
    for material in ("stone", "leather"):
        ex0, ey0, std0 = _texture_energy(quiet, material, 0.0)
        ex90, ey90, std90 = _texture_energy(quiet, material, math.pi / 2)
        assert 0.75 < ex0 / ey0 < 1.33 and 0.75 < ex90 / ey90 < 1.33, material
        assert std90 == pytest.approx(std0, rel=0.1), material


def _pattern_signature(kind: str) -> np.ndarray:
    """Power spectrum (32 x 32), height histogram and slope histogram of a kind's pattern, each unit length."""
    tile = unit_pattern(kind, 12.0, size_px=256)
    power = np.abs(np.fft.fftshift(np.fft.fft2(tile - tile.mean()))) ** 2
    spectrum = cv2.resize(power.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA).ravel()
    heights = np.histogram(tile, 32, (-1.2, 1.2))[0].astype(np.float64)
    gy, gx = np.gradient(tile)
    slopes = np.histogram(np.hypot(gx, gy), 32, (0.0, 0.6))[0].astype(np.float64)
    parts = [p / np.linalg.norm(p) for p in (spectrum, heights, slopes)]
    return np.concatenate(parts) / math.sqrt(3.0)


def test_every_texture_kind_has_a_distinct_generator() -> None:
    assert set(generator_kinds()) == set(TEXTURE_KINDS)
    # distinct: at one common period, no two kinds agree in spectrum, height and slope distributions
    signatures = {kind: _pattern_signature(kind) for kind in TEXTURE_KINDS}
    worst = max((float(signatures[a] @ signatures[b]), a, b) for i, a in enumerate(TEXTURE_KINDS)
                for b in TEXTURE_KINDS[i + 1:])
    assert worst[0] < 0.92, worst


@pytest.mark.parametrize("shape", [Sphere(0.035), Flat()], ids=["35 mm ball", "flat face"])
def test_every_texture_shows_inside_the_contact_at_24_newtons(shape: Sphere | Flat) -> None:
    """Texture contrast = the colour difference to the same press of a relief-free copy of the material."""
    lib = default_library()
    plain = MaterialLibrary(lib.gel, {n: dataclasses.replace(m, texture=dataclasses.replace(m.texture, amplitude_m=0.0))
                                      for n, m in lib.materials.items()})
    textured, untextured = DigitRenderer(lib, noise_sigma=0.0), DigitRenderer(plain, noise_sigma=0.0)
    model = textured.contact_model
    rows, cols = np.mgrid[0:320, 0:240]
    r = np.hypot(cols - 119.5, rows - 159.5) * textured.pitch_m
    contrast = {}
    for name in lib.names:
        radius = model.press(shape, lib.get(name).elastic, 24.0).contact_radius_m
        inside = r < min(0.8 * radius, 0.007)
        a = textured.render(name, shape, 24.0, patch_m=(0, 0)).astype(np.float32)
        b = untextured.render(name, shape, 24.0, patch_m=(0, 0)).astype(np.float32)
        contrast[name] = float((a - b)[inside].std())
    smooth = {n for n in lib.names if lib.get(n).texture.kind == "smooth"}
    assert all(contrast[n] > 3 * 2.0 for n in lib.names if n not in smooth), contrast  # 3 x the real noise
    assert all(contrast[n] < 1.0 for n in smooth), contrast


def test_colour_and_gloss_are_never_rendered(quiet: DigitRenderer) -> None:
    lib = default_library()
    wood = lib.get("wood")
    other = dataclasses.replace(wood, colour="bright green", gloss=1.0)
    altered = DigitRenderer(MaterialLibrary(lib.gel, {**lib.materials, "wood": other}), noise_sigma=0.0)
    a = quiet.render("wood", Sphere(0.02), 24.0, patch_m=(0, 0))
    b = altered.render("wood", Sphere(0.02), 24.0, patch_m=(0, 0))
    assert np.array_equal(a, b)


def test_contact_model_inverse_and_stiffness_agree() -> None:
    model = ContactModel(default_library().gel)
    for shape in (Sphere(0.035), Cylinder(0.01, 0.05), Flat()):
        for material in ("silicone", "wood"):
            e = default_library().get(material).elastic
            depth = model.depth_at_force(shape, e, 24.0)
            assert model.force_at_depth(shape, e, depth) == pytest.approx(24.0, rel=1e-9)
            h = 1e-7
            slope = (model.force_at_depth(shape, e, depth + h) - model.force_at_depth(shape, e, depth - h)) / (2 * h)
            assert model.stiffness_at_depth(shape, e, depth) == pytest.approx(slope, rel=1e-4)


def test_sensor_noise_sampler_is_a_seeded_standard_normal() -> None:
    from statistics import NormalDist

    from tactile_material_ros.sim.sensor_noise import standard_normal

    drawn = standard_normal(np.random.default_rng(3), (400_000,))
    assert drawn.dtype == np.float32
    values = drawn.astype(np.float64)
    assert abs(values.mean()) < 0.01 and values.std() == pytest.approx(1.0, abs=0.01)
    for p in (0.01, 0.1, 0.5, 0.9, 0.99):  # the quantiles of N(0, 1)
        assert np.quantile(values, p) == pytest.approx(NormalDist().inv_cdf(p), abs=0.02)
    assert np.array_equal(standard_normal(np.random.default_rng(3), (5, 4)), standard_normal(np.random.default_rng(3), (5, 4)))
    assert not np.array_equal(standard_normal(np.random.default_rng(3), (5, 4)), standard_normal(np.random.default_rng(4), (5, 4)))


@pytest.mark.parametrize("material", ["steel", "silicone"])
def test_a_flat_face_shows_on_the_domed_gel_and_its_patch_grows_with_force(material: str) -> None:
    """On a flat gel a flat face's uniform dent leaves little slope to shade (silicone scored below the contact
    gate, steel near it); on the domed gel it is pushed flat over a patch that grows with the force."""
    from tactile_material_ros.inference.contact_detection import ContactConfig, contact_score
    from tactile_material_ros.sim.sensor_variation import SensorVariation

    gate = ContactConfig().exit_score  # below it a frame counts as no contact at all
    sensor = SensorVariation(noise_sigma=2.0)  # the nominal simulated DIGIT, calibrated to real presses
    domed, flat = DigitRenderer(noise_sigma=0.0), DigitRenderer(noise_sigma=0.0, dome_radius_m=math.inf)

    def score(renderer: DigitRenderer, force: float) -> float:
        rng = np.random.default_rng(4)
        frame = sensor.apply(renderer.render(material, Flat(), force, patch_m=(0, 0), rng=rng), renderer.background(), rng)
        return contact_score(frame, sensor.apply(renderer.no_contact(rng), renderer.background(), rng))

    on_flat, on_dome = score(flat, 24.0), score(domed, 24.0)
    assert on_dome > max(1.5 * gate, 5.0 * on_flat), (on_flat, on_dome)
    elastic = domed.library.get(material).elastic
    radii = [domed.contact_model.press(Flat(), elastic, f).contact_radius_m for f in (6.0, 12.0, 24.0)]
    assert radii[0] < radii[1] < radii[2] and 0.004 < radii[2] < 0.015, radii
    areas = [_changed(domed, domed.render(material, Flat(), f, patch_m=(0, 0))).sum() for f in (3.0, 6.0, 12.0)]
    assert areas[0] < areas[1] < areas[2], areas
