"""A model card carries no machine's paths: provenance names runs and data relative to where export ran."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tactile_material_ros.inference.model_card import card_path_for
from tactile_material_ros.inference.preprocessing import PreprocessConfig
from tactile_material_ros.learning import export
from tactile_material_ros.learning.runs import portable_paths


def test_absolute_paths_become_relative_or_names_and_commands_word_by_word() -> None:
    base = Path("/work/runs/r3")
    provenance = {"run": "/work/runs/r3/finetune7", "data": {"path": "/work/runs/r3/data/train", "samples": 10},
                  "command": "tactile-material distill data/train --init-from /work/runs/r2/distill/model --augment",
                  "far": "/home/someone/datasets/tvl", "stages": [{"run": "/work/runs/r3/distill7"}], "n": 3}
    assert portable_paths(provenance, base) == {
        "run": "finetune7", "data": {"path": "data/train", "samples": 10},
        "command": "tactile-material distill data/train --init-from ../r2/distill/model --augment",
        "far": "tvl", "stages": [{"run": "distill7"}], "n": 3}


def test_the_card_writer_stores_no_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    model = tmp_path / "out" / "m.onnx"
    model.parent.mkdir()
    model.write_bytes(b"not really a model: the writer only hashes it")
    extra = {"provenance": {"stages": [{"run": str(tmp_path / "finetune"), "data": {"path": str(tmp_path / "d")}}]},
             "metrics": {"data": str(tmp_path / "data" / "test"), "top1": 0.9},
             "familiarity": {"means": "/9j/4AAQ+base64/that/starts/with/a/slash"}}
    export._write_card(model, ["a", "b"], PreprocessConfig(), extra)
    card = json.loads(card_path_for(model).read_text())
    assert card["provenance"]["stages"][0] == {"run": "finetune", "data": {"path": "d"}}
    assert card["metrics"]["data"] == "data/test"
    assert card["familiarity"]["means"] == extra["familiarity"]["means"]     # data, not a path: untouched
    assert str(tmp_path) not in card_path_for(model).read_text()



def test_the_bundled_cards_name_no_machine_path() -> None:
    models = Path(__file__).resolve().parent.parent / "models"
    for card in (*models.glob("*.json"), *models.glob("*/student.json")):
        raw = json.loads(card.read_text())
        text = json.dumps({key: value for key, value in raw.items() if key != "familiarity"})
        assert not re.search(r'[\s"]/(work|home|tmp|root|Users)/', text), f"{card.name} records a machine path"
