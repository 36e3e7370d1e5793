"""The whole learning chain on a tiny configuration, through the real CLI:
synth (the simulated DIGIT) -> distill -> finetune -> evaluate -> export -> classify, then
resuming a run, refusing a changed configuration, and refusing a tampered ONNX file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tactile_material_ros.cli.main import main
from tactile_material_ros.inference.familiarity import FamiliarityError
from tactile_material_ros.inference.model_card import ModelIntegrityError, sha256_file
from tactile_material_ros.inference.onnx_classifier import OnnxClassifier
from tactile_material_ros.learning.explain_figure import Explainer

MATERIALS = ["rubber", "wood", "plastic", "silicone"]  # library order: plastic, rubber, wood, silicone
TINY = ["--size", "micro", "--image-size", "32", "--patch-size", "8", "--batch-size", "8"]


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("chain")
    cache = str(root / "cache")
    t0 = time.perf_counter()
    assert main(["synth", "--out", str(root / "data"), "--per-class", "5", "--seed", "0", "--sensors", "2",
                 "--workers", "1", "--materials", ",".join(MATERIALS)]) == 0
    assert main(["synth", "--out", str(root / "test"), "--per-class", "3", "--seed", "1", "--sensors", "2",
                 "--workers", "1", "--materials", ",".join(MATERIALS)]) == 0
    assert main(["synth", "--out", str(root / "cal"), "--per-class", "3", "--seed", "2", "--sensors", "2",
                 "--workers", "1", "--materials", ",".join(MATERIALS)]) == 0
    assert main(["distill", str(root / "data"), "--out", str(root / "distill"), *TINY, "--epochs", "2",
                 "--val-fraction", "0.2", "--cache-dir", cache]) == 0
    assert main(["finetune", str(root / "data"), "--checkpoint", str(root / "distill"), "--out", str(root / "finetune"),
                 "--epochs", "3", "--lr", "0.01", "--val-fraction", "0.2"]) == 0
    assert main(["evaluate", str(root / "test"), "--model", str(root / "finetune"), "--out", str(root / "eval")]) == 0
    assert main(["export", "--checkpoint", str(root / "finetune"), "--out", str(root / "model" / "tiny.onnx"),
                 "--eval-data", str(root / "test"), "--int8", "--familiarity-data", str(root / "data"),
                 "--calibration-data", str(root / "cal")]) == 0
    return {"root": root, "seconds": time.perf_counter() - t0, "cache": cache}


def test_chain_runs_in_under_two_minutes_and_writes_its_runs(chain: dict) -> None:
    root = chain["root"]
    assert chain["seconds"] < 120, f"synth..export took {chain['seconds']:.0f} s"
    rows = (root / "data" / "tvl.csv").read_text().splitlines()
    assert rows[0] == "sample_id,dataset,tactile,vision,caption,class,background" and len(rows) == 21
    assert (root / "data" / "classes.txt").read_text().split() == ["plastic", "rubber", "wood", "silicone"]
    for run in ("distill", "finetune"):
        config = json.loads((root / run / "config.json").read_text())
        provenance = json.loads((root / run / "provenance.json").read_text())
        assert config["command"] == run and provenance["seeds"] == {"seed": 0}
        assert (root / run / "model" / "model.safetensors").is_file()
        assert len((root / run / "metrics.jsonl").read_text().splitlines()) == (2 if run == "distill" else 3)
    distill_config = json.loads((root / "distill" / "config.json").read_text())
    assert distill_config["kd_params"] == {"alpha": 0.25, "temperature": 3.5}
    report = json.loads((root / "eval" / "metrics.json").read_text())
    assert report["samples"] == 12 and set(report["per_class"]) == set(MATERIALS)
    assert {"top1", "balanced_accuracy", "unknown_rate", "wrong_labelled_rate"} <= set(report)
    assert all({"accuracy", "unknown_rate", "wrong_labelled_rate", "support"} <= set(v)
               for v in report["per_class"].values())
    predictions = (root / "eval" / "predictions.csv").read_text().splitlines()
    assert predictions[0] == "sample_id,class,label,confidence,reason" and len(predictions) == 13
    assert (root / "eval" / "confusion.png").stat().st_size > 5000


def test_export_card_records_parity_provenance_and_int8(chain: dict) -> None:
    model = chain["root"] / "model" / "tiny.onnx"
    card = json.loads(model.with_suffix(".json").read_text())
    assert card["sha256"] == sha256_file(model)
    assert card["class_names"] == ["plastic", "rubber", "wood", "silicone"]
    assert card["preprocessing"]["image_size"] == 32 and card["preprocessing"]["subtract_background"] is True
    assert card["parity"]["max_abs_logit_diff"] < 1e-4 and card["parity"]["argmax_agreement"] == 1.0
    assert [s["stage"] for s in card["provenance"]["stages"]] == ["finetune", "distill"]
    assert len(card["provenance"]["export"]["git"]["commit"] or "") == 40
    assert card["metrics"]["samples"] == 12 and 0.0 <= card["metrics"]["top1"] <= 1.0
    assert "delta_points" in card["int8"] and (model.parent / "tiny_int8.onnx").is_file()
    # dynamic batch: one ONNX file serves batches of 1 and 5
    classifier = OnnxClassifier(model)
    for n in (1, 5):
        assert classifier.logits_from_input(np.zeros((n, 3, 32, 32), np.float32)).shape == (n, 4)
    # the PyTorch weights beside it explain the very model the ONNX file runs
    assert card["pytorch"]["directory"] == "tiny_torch"
    explainer = Explainer.for_model(model)
    pixels = np.random.default_rng(0).normal(size=(2, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        torch_logits = explainer.student(torch.from_numpy(pixels)).logits.numpy()
    np.testing.assert_allclose(classifier.logits_from_input(pixels), torch_logits, atol=1e-4)


def test_classify_prints_one_json_line_per_image(chain: dict, capsys: pytest.CaptureFixture) -> None:
    root = chain["root"]
    images = sorted((root / "test" / "tactile" / "wood").glob("*.png"))[:2]
    reference = root / "test" / "background" / "sensor_000.png"
    capsys.readouterr()
    assert main(["classify", *map(str, images), "--model", str(root / "model" / "tiny.onnx"),
                 "--reference", str(reference), "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    for line, image in zip(lines, images, strict=True):
        result = json.loads(line)
        assert set(result) == {"image", "label", "reason", "confidence", "familiarity", "probabilities"}
        assert result["image"] == str(image)
        assert abs(sum(result["probabilities"].values()) - 1.0) < 1e-5
        best = max(result["probabilities"], key=result["probabilities"].get)
        assert result["confidence"] == result["probabilities"][best]
        if result["reason"]:
            assert result["label"] == "unknown" and result["reason"] in ("low_confidence", "unfamiliar_input")
        else:
            assert result["label"] == best


def test_tampered_onnx_is_refused(chain: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model = chain["root"] / "model" / "tiny.onnx"
    tampered = tmp_path / "tiny.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    tampered.with_suffix(".json").write_text(model.with_suffix(".json").read_text())
    with pytest.raises(ModelIntegrityError, match="sha256"):
        OnnxClassifier(tampered)
    image = next((chain["root"] / "test" / "tactile" / "rubber").glob("*.png"))
    code = main(["classify", str(image), "--model", str(tampered), "--json",
                 "--reference", str(chain["root"] / "test" / "background" / "sensor_000.png")])
    assert code != 0 and capsys.readouterr().out == ""


def test_a_run_resumes_and_refuses_another_configuration(chain: dict, caplog: pytest.LogCaptureFixture) -> None:
    root = chain["root"]
    args = ["distill", str(root / "data"), "--out", str(root / "distill"), *TINY, "--val-fraction", "0.2",
            "--cache-dir", chain["cache"]]
    assert main([*args, "--epochs", "3"]) == 0  # one more epoch on top of the two done
    epochs = [json.loads(line)["epoch"] for line in (root / "distill" / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3]
    assert main([*args, "--epochs", "3", "--lr", "0.01"]) == 2
    assert "another configuration" in caplog.text and "lr" in caplog.text


def test_tampered_familiarity_statistics_are_refused(chain: dict, tmp_path: Path) -> None:
    model = chain["root"] / "model" / "tiny.onnx"
    copy = tmp_path / "tiny.onnx"
    copy.write_bytes(model.read_bytes())
    card = json.loads(model.with_suffix(".json").read_text())
    assert card["familiarity"]["sha256"] and card["familiarity"]["calibration"]["kept_on_held_out"]["all"] >= 0.5
    card["familiarity"]["detectors"]["signature"]["threshold"] *= 10  # lets far more through
    copy.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(FamiliarityError, match="sha256"):
        OnnxClassifier(copy)
    del card["familiarity"]
    copy.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(FamiliarityError, match="no `familiarity` section"):
        OnnxClassifier(copy)
