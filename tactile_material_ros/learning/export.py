"""`export`: a trained student -> ONNX (dynamic batch) + model card, with a parity check.

The card (``inference/model_card.py``) carries the class names, the preprocessing, the ONNX
file's sha256 and, in its extra fields: ``architecture``, ``metrics`` (on ``--eval-data``),
``parity`` (ONNX Runtime vs PyTorch on the same preprocessed frames: max |logit difference|
and argmax agreement), ``provenance`` (git commit, command, data and seeds of every stage)
and, with ``--int8``, the dynamically quantised model's accuracy next to fp32's. The int8
model is written beside the fp32 one (``NAME_int8.onnx``) with its own card.

The PyTorch student + head that was exported is saved beside it too (``NAME_torch/``, the
run's own ``student.json`` + ``model.safetensors`` layout, see ``students.save_student``), and
the card's ``pytorch`` field names that folder and the weights' sha256: Grad-CAM and deep
feature factorisation (``tactile-material explain``) need gradients, which ONNX Runtime does
not give, so an installed package explains with these weights.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tactile_material_ros.inference.familiarity import Familiarity
from tactile_material_ros.inference.model_card import ModelCard, card_path_for, sha256_file
from tactile_material_ros.inference.onnx_classifier import OnnxClassifier
from tactile_material_ros.inference.preprocessing import PreprocessConfig
from tactile_material_ros.learning.datasets import load_images, load_table
from tactile_material_ros.learning.evaluation import classification_report, predict_dataset
from tactile_material_ros.learning.runs import PORTABLE_KEYS, git_commit, portable_paths
from tactile_material_ros.learning.students import (
    STUDENT_FILE,
    WEIGHTS_FILE,
    LogitsAndFeatures,
    LogitsOnly,
    StudentConfig,
    TactileViT,
    load_student,
    save_student,
)

log = logging.getLogger(__name__)
INT8_TOLERANCE_POINTS = 1.0
FEATURE_OUTPUT = "features"


@dataclass(frozen=True)
class ExportConfig:
    checkpoint: str = field(default="", metadata={"help": "run directory of a fine-tuned (or distilled) student"})
    eval_data: str = field(default="", metadata={"help": "held-out data (TVL CSV / folder) for the card's metrics and the parity frames"})
    int8: bool = field(default=False, metadata={"help": "also write a dynamically quantised INT8 model"})
    opset: int = field(default=17, metadata={"help": "ONNX opset"})
    parity_frames: int = field(default=64, metadata={"help": "frames compared between PyTorch and ONNX Runtime"})
    familiarity_data: str = field(default="", metadata={"help": "the training data (TVL CSV / folder): class statistics of the familiarity check"})
    calibration_data: str = field(default="", metadata={"help": "held-out in-distribution data (sensors not in training, not the test set): sets the familiarity thresholds"})
    coverage: float = field(default=0.99, metadata={"help": "share of held-out in-distribution frames the familiarity check keeps"})
    familiarity_frames: int = field(default=4000, metadata={"help": "at most this many frames of each set for the familiarity statistics"})

    def __post_init__(self) -> None:
        if bool(self.familiarity_data) != bool(self.calibration_data):
            raise ValueError("give both --familiarity-data (training frames) and --calibration-data (held-out frames), "
                             "or neither")
        if not 0.5 <= self.coverage < 1.0:
            raise ValueError(f"--coverage {self.coverage} is outside [0.5, 1)")


def torch_dir_for(model_path: str | Path) -> Path:
    """models/tactile_vit.onnx -> models/tactile_vit_torch (the PyTorch weights written by export)."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + "_torch")


def save_torch_beside(student: TactileViT, meta: dict[str, Any], model_path: Path) -> dict[str, Any]:
    """Save the exported student beside ``model_path``; returns the card's ``pytorch`` entry."""
    directory = torch_dir_for(model_path)
    kept = {k: portable_paths(v, Path.cwd()) if k in ("run", "encoder_run") else v
            for k, v in meta.items() if k not in ("student", "vit", "class_names", "feature_dim")}
    save_student(student, directory, StudentConfig(**meta["student"]), list(meta["class_names"]), kept)
    (directory / WEIGHTS_FILE).chmod(0o644)  # safetensors writes 0600; an installed share must be readable
    return {"directory": directory.name, "files": [STUDENT_FILE, WEIGHTS_FILE],
            "sha256": sha256_file(directory / WEIGHTS_FILE),
            "use": "Grad-CAM / deep feature factorisation (tactile-material explain); same weights as the ONNX"}


def export_onnx(student: TactileViT, image_size: int, path: Path, opset: int) -> None:
    """Single-file ONNX (legacy TorchScript exporter: no external data), dynamic batch axis."""
    student.eval()
    dummy = torch.zeros(1, 3, image_size, image_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(LogitsAndFeatures(student), (dummy,), str(path), input_names=["pixel_values"],
                      output_names=["logits", FEATURE_OUTPUT],
                      dynamic_axes={"pixel_values": {0: "batch"}, "logits": {0: "batch"}, FEATURE_OUTPUT: {0: "batch"}},
                      opset_version=opset, dynamo=False)


def parity(student: TactileViT, classifier: OnnxClassifier, pixels: torch.Tensor) -> dict[str, Any]:
    with torch.no_grad():
        reference = LogitsOnly(student.eval())(pixels.float()).numpy()
    onnx_logits = classifier.logits_from_input(pixels.float().numpy())
    return {"frames": int(len(pixels)), "max_abs_logit_diff": float(np.abs(reference - onnx_logits).max()),
            "argmax_agreement": float((reference.argmax(-1) == onnx_logits.argmax(-1)).mean())}


def _stage_provenance(run_dir: str | None) -> list[dict[str, Any]]:
    """Provenance of a run and of the runs it was built from (finetune -> distill)."""
    chain, seen = [], set()
    while run_dir and run_dir not in seen and (Path(run_dir) / "provenance.json").is_file():
        seen.add(run_dir)
        run = Path(run_dir)
        config = json.loads((run / "config.json").read_text())
        chain.append({"stage": config.get("command"), "run": str(run), **json.loads((run / "provenance.json").read_text())})
        run_dir = config.get("encoder", {}).get("run")  # a finetune run names the distill run it froze
    return chain


def _write_card(path: Path, class_names: list[str], preprocessing: PreprocessConfig, extra: dict[str, Any],
                familiarity: Familiarity | None = None) -> ModelCard:
    sha256 = sha256_file(path)
    # the card travels with the model: its provenance names runs and data relative to where export ran
    extra = {key: portable_paths(value, Path.cwd()) if key in PORTABLE_KEYS else value for key, value in extra.items()}
    if familiarity is not None:
        extra = {**extra, "familiarity": familiarity.to_card(sha256)}
    card = ModelCard(class_names=tuple(class_names), preprocessing=preprocessing, sha256=sha256,
                     model_file=path.name, feature_name=FEATURE_OUTPUT, extra=extra)
    card.save(card_path_for(path))
    return card


def _familiarity(path: Path, config: ExportConfig) -> Familiarity | None:
    if not config.familiarity_data:
        log.warning("no --familiarity-data/--calibration-data: %s gets no familiarity statistics, and the classifier "
                    "refuses it until they are fitted", path.name)
        return None
    from tactile_material_ros.learning.familiarity_fit import fit_model_familiarity

    familiarity = fit_model_familiarity(OnnxClassifier(path, require_familiarity=False), config.familiarity_data,
                                        config.calibration_data, config.coverage, config.familiarity_frames)
    log.info("familiarity of %s: thresholds set to keep %.1f%% of held-out frames, kept %s", path.name,
             100 * config.coverage, familiarity.calibration.get("kept_on_held_out"))
    return familiarity


def export(out: str | Path, config: ExportConfig) -> dict[str, Any]:
    """Write ``out`` (.onnx) and its card; returns the card's contents."""
    out = Path(out)
    if out.suffix != ".onnx":
        raise ValueError(f"export target must end in .onnx, got {out}")
    student, meta = load_student(config.checkpoint)
    class_names, preprocessing = meta["class_names"], PreprocessConfig.from_dict(meta["preprocessing"])
    export_onnx(student, preprocessing.image_size, out, config.opset)
    pytorch = save_torch_beside(student, meta, out)
    run = Path(config.checkpoint)
    run = run.parent if run.name == "model" else run
    extra: dict[str, Any] = {
        "architecture": {"family": "transformers ViTModel + linear head", **meta["student"],
                         "hidden_size": meta["vit"]["hidden_size"], "layers": meta["vit"]["num_hidden_layers"],
                         "parameters": sum(p.numel() for p in LogitsOnly(student).parameters())},
        "training": {"method": meta.get("method"), "stage": meta.get("stage")},
        "provenance": {"export": {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "git": git_commit(),
                                  "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
                       "stages": _stage_provenance(str(run.resolve()))},
        "pytorch": pytorch,
    }
    _write_card(out, class_names, preprocessing, extra)
    classifier = OnnxClassifier(out, require_familiarity=False)
    familiarity = _familiarity(out, config)
    if config.eval_data:
        images = load_images(load_table(config.eval_data, class_names), preprocessing, desc="parity")
        parity_pixels = images.pixels[: config.parity_frames]
    else:  # no data given: compare on seeded random inputs of the right shape
        generator = torch.Generator().manual_seed(0)
        parity_pixels = torch.randn(config.parity_frames, 3, preprocessing.image_size, preprocessing.image_size,
                                    generator=generator)
    extra["parity"] = parity(student, classifier, parity_pixels)
    extra["parity"]["inputs"] = "eval-data frames" if config.eval_data else "random normal inputs"
    int8_path = out.with_name(out.stem + "_int8.onnx")
    if config.eval_data:
        fp32 = predict_dataset(out, config.eval_data)
        report = classification_report(fp32.labels, fp32.probabilities.argmax(-1), fp32.class_names)
        extra["metrics"] = {"data": str(Path(config.eval_data).resolve()), "top1": report["top1"],
                            "samples": report["samples"], "per_class": report["per_class"]}
    if config.int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(out), str(int8_path), weight_type=QuantType.QInt8)
        int8_extra = {**extra, "quantization": "dynamic INT8 (onnxruntime quantize_dynamic, QInt8 weights)",
                      "pytorch": {**pytorch, "use": "the fp32 student this INT8 model was quantised from, for "
                                  "Grad-CAM / deep feature factorisation (tactile-material explain)"}}
        _write_card(int8_path, class_names, preprocessing, int8_extra)
        _write_card(int8_path, class_names, preprocessing, int8_extra, _familiarity(int8_path, config))
        if config.eval_data:
            int8 = predict_dataset(int8_path, config.eval_data)
            top1_int8 = float((int8.probabilities.argmax(-1) == int8.labels).mean())
            delta = 100 * (extra["metrics"]["top1"] - top1_int8)
            extra["int8"] = {"model_file": int8_path.name, "top1": top1_int8, "top1_fp32": extra["metrics"]["top1"],
                             "delta_points": round(delta, 3), "within_tolerance": abs(delta) <= INT8_TOLERANCE_POINTS}
            if abs(delta) > INT8_TOLERANCE_POINTS:
                extra["int8"]["note"] = (f"INT8 top-1 differs from fp32 by {delta:.2f} points, more than the "
                                         f"{INT8_TOLERANCE_POINTS} point tolerance")
        else:
            extra["int8"] = {"model_file": int8_path.name, "note": "no --eval-data: INT8 accuracy not measured"}
        int8_card = ModelCard.load(card_path_for(int8_path))
        int8_familiarity = (Familiarity.from_card(int8_card.extra["familiarity"], int8_card.sha256)
                            if "familiarity" in int8_card.extra else None)
        _write_card(int8_path, class_names, preprocessing, {**int8_extra, "int8": extra["int8"]}, int8_familiarity)
    card = _write_card(out, class_names, preprocessing, extra, familiarity)
    log.info("exported %s (%.1f MB), parity max |diff| %.2e, argmax agreement %.3f", out, out.stat().st_size / 1e6,
             extra["parity"]["max_abs_logit_diff"], extra["parity"]["argmax_agreement"])
    return card.to_dict()
