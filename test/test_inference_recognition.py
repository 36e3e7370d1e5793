"""Three answers: a material, `unknown` with a reason, or `no_contact` — on every classifying path."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from model_fixture import make_test_model

from tactile_material_ros.cli.main import main
from tactile_material_ros.inference.contact_signature import SIGNATURE_NAMES, contact_signature
from tactile_material_ros.inference.familiarity import ClassGaussians, Familiarity, fit_familiarity
from tactile_material_ros.inference.onnx_classifier import OnnxClassifier
from tactile_material_ros.inference.preprocessing import FrameError
from tactile_material_ros.inference.recognition import NO_CONTACT, Reason, Recognizer
from tactile_material_ros.learning.evaluation import evaluate
from tactile_material_ros.sim.contact_model import Sphere
from tactile_material_ros.sim.digit_renderer import DigitRenderer
from tactile_material_ros.sim.sensor_variation import SensorVariation

MATERIALS = ("plastic", "rubber", "wood", "silicone")


@pytest.fixture(scope="module")
def renderer() -> DigitRenderer:
    return DigitRenderer(background_seed=3)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_test_model(tmp_path_factory.mktemp("model"))


def _press(renderer: DigitRenderer, material: str, seed: int, variation: SensorVariation | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frame = renderer.render(material, Sphere(0.0125), float(rng.uniform(18, 30)), float(rng.uniform(0, 3.1)),
                            (float(rng.uniform(-2e-3, 2e-3)), 0.0), rng)
    return (variation or SensorVariation(strength=1.0)).apply(frame, renderer.background(), rng)


def test_a_free_gel_is_no_contact_with_no_probabilities(model: Path, renderer: DigitRenderer) -> None:
    recognizer = Recognizer(OnnxClassifier(model))
    reference = renderer.no_contact(np.random.default_rng(0))
    result = recognizer.recognise([renderer.no_contact(np.random.default_rng(1))], reference)
    assert (result.label, result.reason) == (NO_CONTACT, Reason.NO_CONTACT.value)
    assert result.probabilities is None and result.frames_in_contact == 0
    # the very frame against itself: the no-contact frame the bundled model once called silicone at 1.00
    assert recognizer.recognise([reference], reference).label == NO_CONTACT


def test_only_frames_with_contact_are_classified(model: Path, renderer: DigitRenderer) -> None:
    recognizer = Recognizer(OnnxClassifier(model))
    reference = renderer.no_contact(np.random.default_rng(0))
    free, press = renderer.no_contact(np.random.default_rng(2)), _press(renderer, "wood", 1)
    assessed = recognizer.assess([free, press], reference)
    assert [a.in_contact for a in assessed] == [False, True]
    assert assessed[0].probabilities is None and assessed[1].probabilities is not None
    result = recognizer.decide([assessed])
    assert result.frames_in_contact == 1 and result.probabilities is not None


def test_below_the_threshold_is_unknown_low_confidence(model: Path, renderer: DigitRenderer) -> None:
    recognizer = Recognizer(OnnxClassifier(model), confidence_threshold=1.0)
    reference = renderer.no_contact(np.random.default_rng(0))
    result = recognizer.recognise([_press(renderer, "rubber", 3)], reference)
    assert (result.label, result.reason) == ("unknown", Reason.LOW_CONFIDENCE.value)
    assert result.probabilities is not None and result.probabilities.sum() == pytest.approx(1.0)


def _fitted_model(directory: Path, renderer: DigitRenderer) -> Path:
    """The test model with familiarity fitted on nominal-sensor presses of four materials."""
    base = OnnxClassifier(make_test_model(directory / "base"))
    names = list(base.class_names)
    reference = renderer.no_contact(np.random.default_rng(0))
    fit, held = {"features": [], "signature": []}, {"features": [], "signature": []}
    labels, predicted = [], []
    from tactile_material_ros.inference.preprocessing import preprocess
    for i, material in enumerate(MATERIALS * 12):
        frame = _press(renderer, material, 100 + i)
        logits, features = base.run(preprocess([frame], base.card.preprocessing, reference))
        target = held if i >= 40 else fit
        target["features"].append(features[0])
        target["signature"].append(contact_signature(frame, reference))
        (predicted if i >= 40 else labels).append(int(logits.argmax()) if i >= 40 else names.index(material))
    familiarity = fit_familiarity({k: np.stack(v) for k, v in fit.items()}, np.array(labels),
                                  {k: np.stack(v) for k, v in held.items()}, np.array(predicted), len(names), 0.9)
    # the held-out set here is small: widen the thresholds so that familiar frames pass with margin
    widened = {k: g.with_threshold(3 * g.threshold) for k, g in familiarity.detectors.items()}
    return make_test_model(directory / "fitted", familiarity=Familiarity(widened, 0.9))


def test_an_unfamiliar_sensor_is_unknown_unfamiliar_input(tmp_path: Path, renderer: DigitRenderer) -> None:
    recognizer = Recognizer(OnnxClassifier(_fitted_model(tmp_path, renderer)), confidence_threshold=0.0)
    reference = renderer.no_contact(np.random.default_rng(0))
    familiar = [recognizer.recognise([_press(renderer, m, 500 + i)], reference) for i, m in enumerate(MATERIALS)]
    assert all(r.reason != Reason.UNFAMILIAR_INPUT.value for r in familiar), [r.familiarity for r in familiar]
    broken = SensorVariation(strength=1.0, led_gain=(1.0, 1.0, 0.05))  # the red LED is out
    unfamiliar = [recognizer.recognise([_press(renderer, m, 600 + i, broken)],
                                       broken.apply_background(renderer.background()))
                  for i, m in enumerate(MATERIALS)]
    assert all((r.label, r.reason) == ("unknown", Reason.UNFAMILIAR_INPUT.value) for r in unfamiliar), \
        [r.familiarity for r in unfamiliar]
    assert all(r.probabilities is not None for r in unfamiliar)  # what it leaned to is still given


def test_zero_thresholds_make_every_contact_unfamiliar(tmp_path: Path, renderer: DigitRenderer) -> None:
    n = 19
    strict = Familiarity({"signature": ClassGaussians(np.zeros((n, len(SIGNATURE_NAMES))), np.eye(len(SIGNATURE_NAMES)), 1e-9)}, 0.99)
    recognizer = Recognizer(OnnxClassifier(make_test_model(tmp_path, familiarity=strict)), confidence_threshold=0.0)
    reference = renderer.no_contact(np.random.default_rng(0))
    assert recognizer.recognise([_press(renderer, "wood", 7)], reference).reason == Reason.UNFAMILIAR_INPUT.value
    assert recognizer.recognise([reference], reference).reason == Reason.NO_CONTACT.value


def test_a_landscape_frame_is_read_against_a_portrait_reference(model: Path, renderer: DigitRenderer) -> None:
    recognizer = Recognizer(OnnxClassifier(model))
    reference = renderer.no_contact(np.random.default_rng(0))
    press = _press(renderer, "plastic", 9)
    portrait = recognizer.recognise([press], reference)
    landscape = recognizer.recognise([np.ascontiguousarray(press.transpose(1, 0, 2))], reference)
    np.testing.assert_allclose(landscape.probabilities, portrait.probabilities, rtol=1e-5)
    with pytest.raises(FrameError, match="differ in size"):
        recognizer.recognise([press[:200]], reference)
    with pytest.raises(FrameError, match="no-contact reference"):
        recognizer.recognise([press], None)


def test_classify_json_says_the_reason(model: Path, renderer: DigitRenderer, tmp_path: Path,
                                       capsys: pytest.CaptureFixture) -> None:
    reference = renderer.no_contact(np.random.default_rng(0))
    cv2.imwrite(str(tmp_path / "ref.png"), reference)
    cv2.imwrite(str(tmp_path / "free.png"), renderer.no_contact(np.random.default_rng(5)))
    cv2.imwrite(str(tmp_path / "press.png"), _press(renderer, "wood", 4))
    capsys.readouterr()
    assert main(["classify", str(tmp_path / "free.png"), str(tmp_path / "press.png"), "--model", str(model),
                 "--reference", str(tmp_path / "ref.png"), "--threshold", "1.0", "--json"]) == 0
    free, press = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert (free["label"], free["reason"], free["probabilities"]) == ("no_contact", "no_contact", None)
    assert (press["label"], press["reason"]) == ("unknown", "low_confidence") and press["probabilities"]


def test_evaluate_reads_any_labelled_set(model: Path, renderer: DigitRenderer, tmp_path: Path) -> None:
    """Classes the model lacks, no_contact rows, landscape frames; metrics.json and predictions.csv."""
    reference = renderer.no_contact(np.random.default_rng(0))
    cv2.imwrite(str(tmp_path / "ref.png"), reference)
    cv2.imwrite(str(tmp_path / "ref_landscape.png"), np.ascontiguousarray(reference.transpose(1, 0, 2)))
    rows = []
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"wood{i}.png"), _press(renderer, "wood", 20 + i))
        rows.append([f"w{i}", "t", f"wood{i}.png", "", "", "wood", "ref.png"])
        cv2.imwrite(str(tmp_path / f"glass{i}.png"), np.ascontiguousarray(_press(renderer, "steel", 30 + i).transpose(1, 0, 2)))
        rows.append([f"g{i}", "t", f"glass{i}.png", "", "", "glass", "ref_landscape.png"])
        cv2.imwrite(str(tmp_path / f"free{i}.png"), renderer.no_contact(np.random.default_rng(40 + i)))
        rows.append([f"f{i}", "t", f"free{i}.png", "", "", "no_contact", "ref.png"])
    with open(tmp_path / "set.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sample_id", "dataset", "tactile", "vision", "caption", "class", "background"])
        writer.writerows(rows)
    report = evaluate(model, tmp_path / "set.csv", tmp_path / "eval", confidence_threshold=0.0)
    assert report["samples"] == 9 and set(report["per_class"]) == {"wood", "glass", "no_contact"}
    assert report["per_class"]["no_contact"]["accuracy"] == 1.0           # every free gel: no_contact
    assert report["per_class"]["glass"]["in_model"] is False
    # threshold 0 and permissive familiarity: every press gets a material, so glass is always wrong
    assert report["per_class"]["glass"]["wrong_labelled_rate"] == 1.0
    assert report["wrong_labelled_rate"] >= 3 / 9
    with open(tmp_path / "eval" / "predictions.csv") as f:
        predictions = list(csv.DictReader(f))
    assert list(predictions[0]) == ["sample_id", "class", "label", "confidence", "reason"]
    assert {p["label"] for p in predictions if p["class"] == "no_contact"} == {"no_contact"}
    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert {"top1", "balanced_accuracy", "unknown_rate", "wrong_labelled_rate", "per_class"} <= set(saved)
