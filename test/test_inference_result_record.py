"""The classifier's per-result record (material_report) and its vision_msgs ranking, without ROS."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from tactile_material_ros.inference.live_classifier import Classification
from tactile_material_ros.inference.result_record import (
    OK,
    WARN,
    CycleInfo,
    cycle_from_values,
    hypotheses,
    result_level,
    result_values,
)

CLASSES = ("rubber", "plastic", "wood", "silicone")


def _result(label: str, probabilities: list[float] | None, reason: str = "") -> Classification:
    return Classification(label=label, confidence=max(probabilities or [0.0]),
                          probabilities=None if probabilities is None else np.array(probabilities),
                          frame=np.zeros((4, 4, 3), np.uint8), frames=16, presses=2, latency_s=0.01, stamp_s=12.5,
                          position_m=(0.5, 0.1, 0.04), frame_id="base", reason=reason, familiarity=0.8)


def test_the_record_ties_label_probabilities_reason_cycle_and_target() -> None:
    result = _result("wood", [0.1, 0.2, 0.6, 0.1])
    values = dict(result_values(result, CLASSES, CycleInfo(3, "wood_ball")))
    assert values["label"] == "wood" and values["reason"] == "" and values["cycle_id"] == "3"
    assert values["target"] == "wood_ball" and values["presses"] == "2" and values["frames"] == "16"
    assert [float(values[f"p/{c}"]) for c in CLASSES] == [0.1, 0.2, 0.6, 0.1]   # the card's order
    keys = [k for k, _ in result_values(result, CLASSES, None)]
    assert keys[:5] == ["label", "reason", "confidence", "cycle_id", "target"]
    assert dict(result_values(result, CLASSES, None))["cycle_id"] == ""          # outside a palpation cycle
    assert result_level(result) == OK and result_level(_result("unknown", [0.3] * 4, "low_confidence")) == WARN


def test_no_contact_has_no_probabilities_and_no_hypotheses() -> None:
    result = _result("no_contact", None, "no_contact")
    assert not any(k.startswith("p/") for k, _ in result_values(result, CLASSES, CycleInfo(1, "x")))
    assert hypotheses(result, CLASSES) == []


def test_hypotheses_rank_every_class_best_first_without_vision_msgs() -> None:
    # the conversion is plain data: it needs no vision_msgs (not on PyPI; a ROS install may lack it)
    ranked = hypotheses(_result("wood", [0.1, 0.2, 0.6, 0.1]), CLASSES)
    assert [name for name, _ in ranked][:2] == ["wood", "plastic"] and len(ranked) == len(CLASSES)
    assert sum(score for _, score in ranked) == pytest.approx(1.0)


def test_the_classifier_runs_where_vision_msgs_is_missing() -> None:
    from tactile_material_ros.nodes import vision_results

    assert vision_results.VISION_MSGS == (importlib.util.find_spec("vision_msgs") is not None)


def test_a_cycle_message_is_read_back_or_refused_by_name() -> None:
    assert cycle_from_values({"cycle_id": "2", "target": "rubber_ball"}) == CycleInfo(2, "rubber_ball")
    with pytest.raises(ValueError, match="without cycle_id"):
        cycle_from_values({"target": "rubber_ball"})
    with pytest.raises(ValueError, match="cycle_id = 0 must be 1 or more"):
        cycle_from_values({"cycle_id": "0"})
