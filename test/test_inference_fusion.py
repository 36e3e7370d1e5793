"""Press fusion in log-probability space and the `unknown` threshold."""

from __future__ import annotations

import numpy as np
import pytest

from tactile_material_ros.inference.press_fusion import UNKNOWN, decide, fuse_log_probabilities


def _random_probabilities(rng: np.random.Generator, frames: int, classes: int) -> np.ndarray:
    p = rng.dirichlet(np.ones(classes), size=frames)
    return p


def test_fusion_is_the_renormalised_mean_log_probability_over_frames_then_presses() -> None:
    rng = np.random.default_rng(1)
    presses = [_random_probabilities(rng, 3, 19), _random_probabilities(rng, 7, 19)]
    fused = fuse_log_probabilities(presses)
    mean_log = (np.log(presses[0]).mean(axis=0) + np.log(presses[1]).mean(axis=0)) / 2
    expected = np.exp(mean_log) / np.exp(mean_log).sum()
    assert fused.shape == (19,)
    assert fused.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(fused, expected, rtol=1e-9)


def test_each_press_weighs_the_same_whatever_its_frame_count() -> None:
    a = np.array([[0.7, 0.2, 0.1]])
    b = np.array([[0.1, 0.3, 0.6]])
    np.testing.assert_allclose(fuse_log_probabilities([a, np.repeat(b, 10, axis=0)]),
                               fuse_log_probabilities([a, b]), rtol=1e-12)


def test_a_class_that_one_press_rules_out_loses_to_one_both_presses_support() -> None:
    first = np.array([[0.90, 0.09, 0.01]])
    second = np.array([[0.001, 0.60, 0.399]])
    assert np.argmax((first + second) / 2) == 0          # averaging probabilities would say class 0
    assert np.argmax(fuse_log_probabilities([first, second])) == 1


def test_a_hard_zero_does_not_produce_nan() -> None:
    fused = fuse_log_probabilities([np.array([[1.0, 0.0, 0.0]]), np.array([[0.0, 1.0, 0.0]])])
    assert np.all(np.isfinite(fused))
    assert fused.sum() == pytest.approx(1.0)


def test_fusion_refuses_nothing_and_mismatched_class_counts() -> None:
    with pytest.raises(ValueError, match="no press"):
        fuse_log_probabilities([])
    with pytest.raises(ValueError, match="number of classes"):
        fuse_log_probabilities([np.ones((1, 3)) / 3, np.ones((1, 4)) / 4])


def test_below_the_threshold_the_label_is_unknown() -> None:
    names = ["rubber", "wood", "plastic"]
    p = np.array([0.2, 0.5, 0.3])
    assert decide(p, names, 0.5).label == "wood"
    low = decide(p, names, 0.51)
    assert low.label == UNKNOWN
    assert low.index == 1 and low.confidence == pytest.approx(0.5)
