"""`enrol` on tiny configurations: a small real ONNX base model (test/model_fixture.py) and hand-made
pattern presses (test/learning_fixtures.py), through the real CLI, ONNX Runtime and Recognizer."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from learning_fixtures import PATTERN_CLASSES, write_pattern_dataset
from model_fixture import make_test_model

from tactile_material_ros.cli.main import main
from tactile_material_ros.inference.model_card import sha256_file
from tactile_material_ros.inference.onnx_classifier import OnnxClassifier
from tactile_material_ros.inference.recognition import Recognizer, card_contact_gate
from tactile_material_ros.learning.enrol import EnrolConfig, EnrolError, contact_section, enrol
from tactile_material_ros.learning.evaluation import evaluate


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("enrol")
    base = make_test_model(root / "base", image_size=32)
    data = write_pattern_dataset(root / "presses", per_class=8, sensors=2, seed=0)
    (data.parent / "dataset.json").write_text(json.dumps({"sensor_serial": "D20001"}))
    out = root / "models" / "mine.onnx"
    assert main(["enrol", str(data.parent), "--out", str(out), "--base", str(base)]) == 0
    return {"root": root, "base": base, "data": data, "model": out, "card": json.loads(out.with_suffix(".json").read_text())}


def _strings(value: object) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [str(k), *_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def test_enrolled_model_loads_verified_and_recognises_its_classes(enrolled: dict) -> None:
    model = OnnxClassifier(enrolled["model"])          # sha256 and familiarity section verified
    assert model.familiarity is not None
    assert set(model.class_names) == set(PATTERN_CLASSES)
    card = enrolled["card"]
    assert card["sha256"] == sha256_file(enrolled["model"])
    assert card["enrolment"]["presses_per_class"] == {name: 8 for name in model.class_names}
    assert card["enrolment"]["sensor_serial"] == "D20001"
    assert card["provenance"]["data"] == {"file": "tvl.csv", "sha256": sha256_file(enrolled["data"]), "presses": 24}
    assert card["provenance"]["base"]["sha256"] == sha256_file(enrolled["base"])
    assert card["parity"]["max_abs_logit_diff"] < 1e-2
    root = str(enrolled["root"])
    text = {k: v for k, v in card.items() if k != "familiarity"}   # base64 arrays there may start with "/"
    machine_paths = [s for s in _strings(text) if s.startswith("/") or root in s or "\\" in s]
    assert not machine_paths, machine_paths
    frame = cv2.imread(str(enrolled["data"].parent / "tactile" / "dots" / "dots_0.png"))
    reference = cv2.imread(str(enrolled["data"].parent / "background" / "sensor_0.png"))
    result = Recognizer(model).recognise([frame], reference)
    assert result.label == "dots"
    assert Recognizer(model).recognise([reference], reference).label == "no_contact"


def test_enrolled_model_classifies_held_out_presses(enrolled: dict) -> None:
    held_out = write_pattern_dataset(enrolled["root"] / "held_out", per_class=4, sensors=2, seed=7)
    report = evaluate(enrolled["model"], held_out, enrolled["root"] / "eval")
    assert report["samples"] == 12
    assert report["top1"] >= 0.9, report


def _rewrite(csv_path: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    with open(csv_path, newline="") as f:
        rows = list(csv.reader(f))
    rows = [rows[0], *edit(rows[1:])]
    with open(csv_path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return csv_path


def _enrol(enrolled: dict, data: Path, **options) -> dict:  # type: ignore[no-untyped-def]
    return enrol(EnrolConfig(data=str(data), out=str(data.parent / "m.onnx"), base=str(enrolled["base"]), **options),
                 progress=False)


def test_too_few_presses_names_the_class_and_the_fix(enrolled: dict, tmp_path: Path) -> None:
    data = write_pattern_dataset(tmp_path, per_class=4)
    _rewrite(data, lambda rows: [r for r in rows if not (r[5] == "dots" and r[0] != "dots-0")])
    with pytest.raises(EnrolError, match=r"'dots' has 1 .*record more presses"):
        _enrol(enrolled, data)


def test_one_class_is_refused(enrolled: dict, tmp_path: Path) -> None:
    data = write_pattern_dataset(tmp_path, per_class=4)
    _rewrite(data, lambda rows: [r for r in rows if r[5] == "dots"])
    with pytest.raises(EnrolError, match="at least 2 materials"):
        _enrol(enrolled, data)


def test_mixed_frame_sizes_are_refused(enrolled: dict, tmp_path: Path) -> None:
    data = write_pattern_dataset(tmp_path, per_class=4)
    small = tmp_path / "tactile" / "dots" / "dots_1.png"
    cv2.imwrite(str(small), cv2.resize(cv2.imread(str(small)), (120, 160)))
    with pytest.raises(EnrolError, match=r"mixed sizes .*1 at 120x160"):
        _enrol(enrolled, data)


def test_missing_background_is_refused_for_a_subtracting_base(enrolled: dict, tmp_path: Path) -> None:
    data = write_pattern_dataset(tmp_path, per_class=4)
    _rewrite(data, lambda rows: [r[:6] + ([""] if r[0] == "dots-2" else r[6:]) for r in rows])
    with pytest.raises(EnrolError, match="dots-2 has no background.*no-contact"):
        _enrol(enrolled, data)


def test_config_is_validated() -> None:
    with pytest.raises(EnrolError, match=r"\.onnx"):
        EnrolConfig(data="x", out="model.bin")
    with pytest.raises(EnrolError, match="min-presses-per-class"):
        EnrolConfig(data="x", out="m.onnx", min_presses_per_class=1)


def test_faint_presses_get_a_contact_gate_of_their_own() -> None:
    assert "gate" not in contact_section(np.array([0.3, 0.5, 0.7]))
    faint = contact_section(np.linspace(0.03, 0.2, 50))
    gate = card_contact_gate({"contact": faint})
    assert gate is not None and gate.exit_score < 0.03 / 1.5 and gate.exit_score < gate.enter_score


def test_recognizer_uses_the_cards_gate_in_place_of_the_default(enrolled: dict) -> None:
    from tactile_material_ros.inference.contact_detection import ContactConfig

    model = OnnxClassifier(enrolled["model"])
    model.card.extra["contact"] = contact_section(np.linspace(0.03, 0.2, 50))
    own = card_contact_gate(model.card.extra)
    assert Recognizer(model).contact == own
    assert Recognizer(model, ContactConfig()).contact == own
    assert Recognizer(model, ContactConfig(exit_score=0.05)).contact.exit_score == 0.05


def test_two_classes_from_two_presses_each(enrolled: dict, tmp_path: Path) -> None:
    """The smallest enrolment (two classes, two presses each: two palpation cycles) still learns them."""
    data = write_pattern_dataset(tmp_path / "presses", per_class=2, sensors=1, seed=3)
    _rewrite(data, lambda rows: [r for r in rows if r[5] != "dots"])
    card = _enrol(enrolled, data, min_presses_per_class=2)
    assert card["class_names"] == ["stripes_h", "stripes_v"]
    held_out = write_pattern_dataset(tmp_path / "held_out", per_class=3, sensors=1, seed=4)
    _rewrite(held_out, lambda rows: [r for r in rows if r[5] != "dots"])
    assert evaluate(data.parent / "m.onnx", held_out, tmp_path / "eval")["top1"] >= 5 / 6
