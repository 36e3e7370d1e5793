"""Grad-CAM and deep feature factorisation: on a small random-initialised student, and on the bundled model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tactile_material_ros.learning.explain_figure import Explainer, ExplainerUnavailableError
from tactile_material_ros.learning.feature_factorisation import deep_feature_factorisation, nmf
from tactile_material_ros.learning.gradcam import GradCAM, default_target_layer, vit_reshape_transform
from tactile_material_ros.learning.students import StudentConfig, build_student
from tactile_material_ros.paths import model_file
from tactile_material_ros.sim.contact_model import Sphere
from tactile_material_ros.sim.digit_renderer import DigitRenderer
from tactile_material_ros.sim.sensor_variation import SensorVariation

GRADCAM_FRAMES_DENSER_INSIDE = 12   # of 18 off-centre presses, mean Grad-CAM inside the contact > outside
GRADCAM_MEDIAN_RATIO = 3.0          # median over the 18 of mean Grad-CAM inside / outside
GRADCAM_MEDIAN_MASS_SHARE = 0.6     # median share of the map's mass inside the contact (it covers ~30-50 %)
DFF_MAX_RELATIVE_ERROR = 0.6   # ||A - W H|| / ||A|| of 4 NMF concepts of the last block's patch tokens


@pytest.fixture
def student():
    torch.manual_seed(0)
    return build_student(StudentConfig(size="micro", image_size=32, patch_size=8), num_classes=5)


def test_reshape_drops_cls_and_makes_the_patch_grid() -> None:
    tokens = torch.arange(2 * 17 * 3, dtype=torch.float32).reshape(2, 17, 3)
    grid = vit_reshape_transform(tokens)
    assert grid.shape == (2, 3, 4, 4)
    assert torch.equal(grid[1, :, 0, 1], tokens[1, 2])  # token 1 + row 0 * 4 + column 1
    with pytest.raises(ValueError, match="square"):
        vit_reshape_transform(torch.zeros(1, 11, 3))


def test_gradcam_map_has_input_size_is_normalised_and_follows_the_target(student) -> None:
    pixels = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with GradCAM(student) as cam:
        maps, logits = cam(pixels)
        other, _ = cam(pixels, target=(int(logits[0].argmin()) if logits.shape[1] > 1 else 0))
    assert maps.shape == (3, 32, 32) and logits.shape == (3, 5)
    assert float(maps.min()) >= 0.0 and float(maps.max()) <= 1.0 + 1e-6
    assert all(float(m.max()) == pytest.approx(1.0) and float(m.std()) > 0.01 for m in maps)  # not constant
    assert not torch.allclose(maps[0], other[0], atol=1e-3)


def test_gradcam_hooks_exist_only_inside_the_context(student) -> None:
    block = default_target_layer(student)
    before = len(block._forward_hooks)
    with GradCAM(student) as cam:
        assert len(block._forward_hooks) == before + 1
        cam(torch.zeros(1, 3, 32, 32))
    assert len(block._forward_hooks) == before
    with pytest.raises(RuntimeError, match="with"):
        cam(torch.zeros(1, 3, 32, 32))


def test_gradcam_weighting_is_overridable(student) -> None:
    class AbsGradCAM(GradCAM):
        def channel_weights(self, activations, gradients):
            return gradients.abs().mean(dim=(2, 3))

    pixels = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with GradCAM(student) as plain, AbsGradCAM(student) as variant:
        a, _ = plain(pixels, target=0)
        b, _ = variant(pixels, target=0)
    assert not torch.allclose(a, b, atol=1e-3)


def test_nmf_recovers_a_low_rank_nonnegative_matrix() -> None:
    rng = np.random.default_rng(0)
    matrix = rng.uniform(0, 1, (20, 3)) @ rng.uniform(0, 1, (3, 30))
    w, h = nmf(matrix, 3, iterations=500)
    assert (w >= 0).all() and (h >= 0).all()
    assert np.linalg.norm(matrix - w @ h) / np.linalg.norm(matrix) < 0.05


def test_dff_scores_concepts_with_the_head() -> None:
    rng = np.random.default_rng(1)
    activations = rng.uniform(0, 1, (8, 4, 4))
    head = np.eye(3, 8) * 5
    result = deep_feature_factorisation(activations, k=3, head_weight=head, head_bias=np.zeros(3))
    assert result.maps.shape == (3, 16) and result.concepts.shape == (8, 3)
    assert result.concept_scores.shape == (3, 3)
    assert np.allclose(result.concept_scores.sum(1), 1.0)
    assert 0.0 <= result.relative_error < 0.6


# --- the bundled model: its exported PyTorch weights ------------------------------------------------

TEXTURED = ("rubber", "woven", "carpet", "leather", "wood", "fabric")


def _partial_contacts(material: str) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(frame, reference, contact mask) for a 12.5 mm ball pressed off-centre: the texture covers part of the gel.

    The frame is what the nominal simulated sensor shows; the mask is where a noiseless render of
    the same press, before the sensor's contact strength, differs from the background by more than
    10 grey levels (the dent and its texture)."""
    sensor = SensorVariation(noise_sigma=2.0)  # the nominal simulated DIGIT, calibrated to real presses
    clean = DigitRenderer(background_seed=77, noise_sigma=0.0)
    reference = sensor.apply(clean.no_contact(), clean.background(), np.random.default_rng(0))
    out = []
    for k, offset in enumerate([(0.004, -0.005), (-0.004, 0.006), (0.003, 0.004)]):
        args = (material, Sphere(0.0125), 24.0)
        kwargs = {"tool_angle_rad": 0.4 * k, "offset_m": offset, "patch_m": (0.001 * k, -0.002 * k)}
        rng = np.random.default_rng(k)
        frame = sensor.apply(clean.render(*args, rng=rng, **kwargs), clean.background(), rng)
        mask = np.abs(clean.render(*args, rng=None, **kwargs).astype(int) - clean.background().astype(int)).max(2) > 10
        out.append((frame, reference, mask))
    return out


@pytest.fixture(scope="module")
def bundled() -> Explainer:
    return Explainer.from_checkpoint()


def test_grad_cam_mass_lies_in_the_contact_where_the_texture_is(bundled: Explainer) -> None:
    ratios, shares = [], []
    for material in TEXTURED:
        for frame, reference, mask in _partial_contacts(material):
            heat = bundled.explain(frame, reference, target=material).heat_on_frame()
            assert heat.shape == frame.shape[:2] and float(heat.std()) > 0.01
            assert 0.1 < mask.mean() < 0.9  # the contact covers part of the gel, not all of it
            ratios.append(float(heat[mask].mean()) / max(float(heat[~mask].mean()), 1e-6))
            shares.append(float(heat[mask].sum() / heat.sum()))
    print("grad-cam density inside/outside", [round(r, 2) for r in ratios], "mass share inside",
          [round(s, 2) for s in shares])
    # measured with the bundled model (docs/training.md, "Explanations"): 16 of 18 frames denser inside
    # (two wood frames the exceptions), median density ratio 10.7, median share of the map's mass inside 0.87
    assert sum(r > 1.0 for r in ratios) >= GRADCAM_FRAMES_DENSER_INSIDE, ratios
    assert np.median(ratios) > GRADCAM_MEDIAN_RATIO, ratios
    assert np.median(shares) > GRADCAM_MEDIAN_MASS_SHARE, shares


def test_grad_cam_of_the_bundled_model_follows_the_target_class(bundled: Explainer) -> None:
    frame, reference, _ = _partial_contacts("woven")[0]
    own = bundled.explain(frame, reference, target="woven").heat
    other = bundled.explain(frame, reference, target="steel").heat
    assert own.shape == other.shape == (bundled.preprocessing.image_size,) * 2
    assert float(np.abs(own - other).mean()) > 0.02


def test_dff_concepts_reconstruct_the_bundled_activations(bundled: Explainer) -> None:
    errors = [bundled.explain(frame, reference).dff.relative_error
              for material in ("rubber", "plastic", "wood", "silicone")
              for frame, reference, _ in _partial_contacts(material)[:1]]
    # measured with the bundled model and 4 concepts: see docs/training.md ("Explanations")
    print('dff relative errors', [round(e, 3) for e in errors])
    assert max(errors) < DFF_MAX_RELATIVE_ERROR, errors


def test_weights_that_differ_from_the_card_are_refused(tmp_path: Path) -> None:
    for name in ("tactile_vit.onnx", "tactile_vit.json"):
        shutil.copy2(model_file(name), tmp_path / name)
    shutil.copytree(model_file("tactile_vit_torch"), tmp_path / "tactile_vit_torch")
    assert Explainer.for_model(tmp_path / "tactile_vit.onnx").class_names == bundled_class_names()
    weights = tmp_path / "tactile_vit_torch" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ExplainerUnavailableError, match="does not match the sha256"):
        Explainer.for_model(tmp_path / "tactile_vit.onnx")
    shutil.rmtree(tmp_path / "tactile_vit_torch")
    with pytest.raises(ExplainerUnavailableError, match="tactile-material export"):
        Explainer.for_model(tmp_path / "tactile_vit.onnx")


def bundled_class_names() -> tuple[str, ...]:
    return tuple(json.loads(model_file("tactile_vit.json").read_text())["class_names"])
