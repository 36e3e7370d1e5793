"""Grad-CAM and deep feature factorisation on a small random-initialised student."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tactile_material_ros.learning.feature_factorisation import deep_feature_factorisation, nmf
from tactile_material_ros.learning.gradcam import GradCAM, default_target_layer, vit_reshape_transform
from tactile_material_ros.learning.students import StudentConfig, build_student


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
