"""The demo's report: results.json entries, pictures, the printed table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tactile_material_ros.demo.__main__ import model_note
from tactile_material_ros.demo.records import PressRecord, TargetRecord
from tactile_material_ros.demo.report import format_table, write_report
from tactile_material_ros.sim.contact_model import Sphere
from tactile_material_ros.sim.digit_renderer import DigitRenderer
from tactile_material_ros.sim.materials import default_library

NAMES = ["plastic", "rubber", "wood", "silicone"]


def _record(target: str, material: str, label: str | None, probs: list[float] | None) -> TargetRecord:
    frame = np.full((320, 240, 3), 100, np.uint8)
    return TargetRecord(
        target, material, label, None if probs is None else np.array(probs), cycle_s=21.5,
        presses=[PressRecord(10.0, 24.1, frame), PressRecord(18.0, 23.9, frame)],
        force_trace=[(t, 24.0 * min(1.0, t / 3)) for t in np.linspace(0, 20, 200)],
        states=[(0.0, "approaching"), (20.0, "done")])


def test_report_has_one_result_per_target_and_the_pictures(tmp_path: Path) -> None:
    records = [_record("rubber_ball", "rubber", "rubber", [0.1, 0.7, 0.1, 0.1]),
               _record("wood_ball", "wood", None, None)]
    index = write_report(records, NAMES, tmp_path, "test model", [0.0, 0.0])
    results = json.loads((tmp_path / "results.json").read_text())
    assert [r["target"] for r in results] == ["rubber_ball", "wood_ball"]
    assert {"target", "material", "label", "confidence", "cycle_s"} <= set(results[0])
    assert results[0]["confidence"] == 0.7 and results[0]["correct"] is True
    assert results[1]["label"] is None and results[1]["correct"] is False
    page = index.read_text()
    for picture in ("rubber_ball_press1.png", "rubber_ball_press2.png", "rubber_ball_probabilities.png",
                    "rubber_ball_force.png", "wood_ball_force.png"):
        assert (tmp_path / picture).stat().st_size > 1000
        assert picture in page
    assert "1 of 2 correct" in page


def test_each_press_of_a_ball_is_explained_with_the_bundled_weights(tmp_path: Path) -> None:
    renderer = DigitRenderer(background_seed=31, noise_sigma=2.0)
    rng = np.random.default_rng(4)
    record = _record("rubber_ball", "rubber", "rubber", None)
    record.presses = [PressRecord(10.0, 24.0, renderer.render("rubber", Sphere(0.03), 24.0, angle, rng=rng))
                      for angle in (0.0, np.pi / 2)]
    record.reference = renderer.no_contact(rng)
    index = write_report([record], list(default_library().names), tmp_path, "bundled")
    page = index.read_text()
    for press in (1, 2):
        figure = tmp_path / f"rubber_ball_press{press}_explained.png"
        assert figure.stat().st_size > 10_000 and figure.name in page
        numbers = json.loads(figure.with_suffix(".json").read_text())
        assert numbers["press"] == press and numbers["object"] == "rubber_ball"
        assert sum(numbers["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
        assert 0.0 < numbers["dff"]["relative_error"] < 1.0
    assert "No explanation figures" not in page


def test_a_model_without_pytorch_weights_gets_a_report_that_says_why(tmp_path: Path) -> None:
    lone = tmp_path / "model" / "lone.onnx"
    lone.parent.mkdir()
    lone.write_bytes(b"not used")
    record = _record("rubber_ball", "rubber", "rubber", [0.1, 0.7, 0.1, 0.1])
    record.reference = np.full((320, 240, 3), 100, np.uint8)
    page = write_report([record], NAMES, tmp_path / "report", "lone", model=lone).read_text()
    assert "No explanation figures" in page and "tactile-material export" in page
    assert not list((tmp_path / "report").glob("*_explained.png"))


def test_the_table_lists_target_truth_label_confidence_presses_and_time() -> None:
    table = format_table([_record("rubber_ball", "rubber", "rubber", [0.1, 0.7, 0.1, 0.1])]).splitlines()
    assert [c.strip() for c in table[0].strip("|").split("|")] == \
        ["target", "true material", "label", "confidence", "presses", "cycle time"]
    assert [c.strip() for c in table[2].strip("|").split("|")] == \
        ["rubber_ball", "rubber", "rubber", "70.0 %", "2", "21.5 s"]


def test_the_model_note_names_the_architecture_and_leaves_no_empty_brackets() -> None:
    from tactile_material_ros.inference.model_card import ModelCard, card_path_for
    from tactile_material_ros.paths import model_file

    card = ModelCard.load(card_path_for(model_file()))
    note = model_note("tactile_vit.onnx", card)
    assert f"{len(card.class_names)} classes, ViT-" in note and "blocks" in note and note.endswith(" parameters).")
    assert ", )" not in note
