"""Learning commands of `tactile-material`: synth, distill, finetune, evaluate, export, classify, ablate, explain, enrol.

Options come from the config dataclasses (``cli/dataclass_args.py``), so defaults and help
text have one source. Every training command writes into its own run directory (``--out``)
and resumes when run again on it. Under ``accelerate launch`` the same commands train on
several processes, GPUs or nodes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

# Set before torch loads its OpenMP runtime: on a shared CPU, busy-waiting worker threads
# collapse training throughput ~10x (measured 6 vs 71 img/s for a 6-block ViT-tiny on 2 cores
# under load); passive waiting costs nothing measurable on an idle machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from tactile_material_ros.cli.dataclass_args import add_arguments, build

log = logging.getLogger(__name__)


def _fail(exc: Exception) -> int:
    log.error("%s", exc)
    return 2


# -- synth ----------------------------------------------------------------------------------------
def synth(args: argparse.Namespace) -> int:
    from tactile_material_ros.learning.synth import SynthConfig, synthesize

    try:
        config = build(SynthConfig, args)
        synthesize(config, args.out)
    except (ValueError, KeyError) as exc:
        return _fail(exc)
    return 0


# -- distill / finetune ---------------------------------------------------------------------------
def distill(args: argparse.Namespace) -> int:
    from tactile_material_ros.learning.datasets import DatasetError
    from tactile_material_ros.learning.distill import DistillConfig, distill
    from tactile_material_ros.learning.kd_losses import UnknownKDMethodError
    from tactile_material_ros.learning.runs import RunConflictError
    from tactile_material_ros.learning.students import StudentConfig
    from tactile_material_ros.learning.teachers import TeacherUnavailableError
    from tactile_material_ros.learning.trainer import TrainConfig

    try:
        metrics = distill(args.data, args.out, build(StudentConfig, args), build(TrainConfig, args),
                          build(DistillConfig, args))
    except (UnknownKDMethodError, TeacherUnavailableError, DatasetError, RunConflictError, ValueError,
            FileNotFoundError) as exc:
        return _fail(exc)
    log.info("distill done: val accuracy %.2f%% -> %s", 100 * metrics.get("val_accuracy", float("nan")), args.out)
    return 0


def finetune(args: argparse.Namespace) -> int:
    from tactile_material_ros.learning.datasets import DatasetError
    from tactile_material_ros.learning.finetune import FinetuneConfig, finetune
    from tactile_material_ros.learning.runs import RunConflictError
    from tactile_material_ros.learning.trainer import TrainConfig

    try:
        metrics = finetune(args.data, args.out, build(TrainConfig, args), build(FinetuneConfig, args))
    except (DatasetError, RunConflictError, ValueError, FileNotFoundError) as exc:
        return _fail(exc)
    log.info("finetune done: val accuracy %.2f%% -> %s", 100 * metrics.get("val_accuracy", float("nan")), args.out)
    return 0


# -- evaluate / export ----------------------------------------------------------------------------
def evaluate(args: argparse.Namespace) -> int:
    from tactile_material_ros.inference.model_card import ModelIntegrityError
    from tactile_material_ros.learning.datasets import DatasetError
    from tactile_material_ros.learning.evaluation import evaluate

    try:
        report = evaluate(args.model, args.data, args.out, args.threshold, args.reference or None)
    except (DatasetError, ModelIntegrityError, FileNotFoundError, ValueError) as exc:
        return _fail(exc)
    width = max(12, *(len(n) for n in report["per_class"]))
    lines = [f"{'class':<{width}}  right  unknown  wrong material  support   most given labels"]
    for name, row in report["per_class"].items():
        common = ", ".join(f"{k} {v}" for k, v in list(row["labels"].items())[:3])
        lines.append(f"{name:<{width}}  {100 * row['accuracy']:4.0f}%  {100 * row['unknown_rate']:6.0f}%  "
                     f"{100 * row['wrong_labelled_rate']:13.0f}%  {row['support']:7d}   {common}")
    lines.append(f"top-1 {100 * report['top1']:.2f}% (balanced {100 * report['balanced_accuracy']:.2f}%), unknown "
                 f"{100 * report['unknown_rate']:.1f}%, no_contact {100 * report['no_contact_rate']:.1f}%, wrong "
                 f"material {100 * report['wrong_labelled_rate']:.1f}% of {report['samples']} frames")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def export(args: argparse.Namespace) -> int:
    from tactile_material_ros.inference.model_card import ModelIntegrityError
    from tactile_material_ros.learning.datasets import DatasetError
    from tactile_material_ros.learning.export import ExportConfig, export

    try:
        card = export(args.out, build(ExportConfig, args))
    except (DatasetError, ModelIntegrityError, FileNotFoundError, ValueError) as exc:
        return _fail(exc)
    summary = {"model": str(args.out), "sha256": card["sha256"], "parity": card["parity"],
               "top1": card.get("metrics", {}).get("top1"), "int8": card.get("int8")}
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


# -- classify -------------------------------------------------------------------------------------
def classify(args: argparse.Namespace) -> int:
    import cv2

    from tactile_material_ros.inference.model_card import ModelIntegrityError
    from tactile_material_ros.inference.onnx_classifier import OnnxClassifier
    from tactile_material_ros.inference.preprocessing import FrameError
    from tactile_material_ros.inference.recognition import Recognizer
    from tactile_material_ros.paths import model_file

    model = Path(args.model) if args.model else model_file()
    try:
        recognizer = Recognizer(OnnxClassifier(model), None, args.threshold)  # the card's contact gate, else the default
    except (ModelIntegrityError, FileNotFoundError, ValueError) as exc:
        return _fail(exc)
    reference = cv2.imread(args.reference, cv2.IMREAD_COLOR)
    if reference is None:
        return _fail(FileNotFoundError(f"cannot read the reference frame {args.reference}: give the sensor's "
                                       "no-contact frame (PNG/JPEG), taken with nothing touching the gel"))
    status = 0
    names = recognizer.class_names
    for image in args.images:
        frame = cv2.imread(image, cv2.IMREAD_COLOR)
        if frame is None:
            log.error("cannot read image %s (skipped)", image)
            status = 1
            continue
        try:
            decision = recognizer.recognise([frame], reference)
        except FrameError as exc:
            return _fail(exc)
        probabilities = (None if decision.probabilities is None else
                         {name: float(p) for name, p in zip(names, decision.probabilities, strict=True)})
        result = {"image": image, "label": decision.label, "reason": decision.reason,
                  "confidence": decision.confidence, "familiarity": decision.familiarity,
                  "probabilities": probabilities}
        if args.json:
            sys.stdout.write(json.dumps(result) + "\n")
            continue
        why = f" [{decision.reason}]" if decision.reason and decision.reason != decision.label else ""
        top = sorted((probabilities or {}).items(), key=lambda kv: -kv[1])[:3]
        sys.stdout.write(f"{image}: {decision.label}{why} ({100 * decision.confidence:.1f}%)   "
                         + ", ".join(f"{n} {100 * p:.1f}%" for n, p in top) + "\n")
    return status


# -- ablate ---------------------------------------------------------------------------------------
def ablate(args: argparse.Namespace) -> int:
    from tactile_material_ros.learning.ablation import PAPER_TABLE_III, ablate
    from tactile_material_ros.learning.datasets import DatasetError
    from tactile_material_ros.learning.distill import DistillConfig
    from tactile_material_ros.learning.finetune import FINETUNE_DEFAULTS
    from tactile_material_ros.learning.kd_losses import UnknownKDMethodError
    from tactile_material_ros.learning.students import StudentConfig
    from tactile_material_ros.learning.teachers import TeacherUnavailableError
    from tactile_material_ros.learning.trainer import TrainConfig

    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip()) if args.methods else tuple(PAPER_TABLE_III)
    try:
        distill_train = build(TrainConfig, args)
        finetune_train = build(TrainConfig, args, **{**FINETUNE_DEFAULTS, "epochs": args.finetune_epochs,
                                                     "lr": args.finetune_lr})
        result = ablate(args.data, args.test, args.out, build(StudentConfig, args), distill_train, finetune_train,
                        build(DistillConfig, args, method="feature"), methods)
    except (UnknownKDMethodError, TeacherUnavailableError, DatasetError, ValueError, FileNotFoundError) as exc:
        return _fail(exc)
    from tactile_material_ros.learning.ablation import markdown_table

    sys.stdout.write(markdown_table(result["rows"]))
    return 0


# -- explain --------------------------------------------------------------------------------------
def explain(args: argparse.Namespace) -> int:
    from tactile_material_ros.learning.explain_figure import ExplainConfig, explain_images

    try:
        written = explain_images(args.images, args.out, build(ExplainConfig, args))
    except (FileNotFoundError, ValueError) as exc:
        return _fail(exc)
    for path in written:
        sys.stdout.write(f"{path}\n")
    return 0 if len(written) == len(args.images) else 1


# -- enrol ----------------------------------------------------------------------------------------
def enrol(args: argparse.Namespace) -> int:
    from tactile_material_ros.inference.model_card import ModelIntegrityError
    from tactile_material_ros.learning.enrol import EnrolConfig, EnrolError, enrol

    try:
        card = enrol(build(EnrolConfig, args))
    except (EnrolError, ModelIntegrityError, FileNotFoundError, ValueError) as exc:
        return _fail(exc)
    enrolment = card["enrolment"]
    summary = {"model": str(args.out), "sha256": card["sha256"], "classes": card["class_names"],
               "presses_per_class": enrolment["presses_per_class"],
               "cross_validated_top1": enrolment["cross_validation"]["top1"]}
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from tactile_material_ros.learning.distill import DistillConfig
    from tactile_material_ros.learning.enrol import EnrolConfig
    from tactile_material_ros.learning.explain_figure import ExplainConfig
    from tactile_material_ros.learning.export import ExportConfig
    from tactile_material_ros.learning.finetune import FINETUNE_DEFAULTS, FinetuneConfig
    from tactile_material_ros.learning.students import StudentConfig
    from tactile_material_ros.learning.synth import SynthConfig
    from tactile_material_ros.learning.trainer import TrainConfig

    # Accelerate logs every checkpoint file at INFO; our own progress lines say what matters
    logging.getLogger("accelerate").setLevel(logging.WARNING)
    p = subparsers.add_parser("synth", help="render a synthetic tactile data set in the TVL CSV layout")
    p.add_argument("--out", required=True, help="output folder (tvl.csv, classes.txt, tactile/, background/)")
    add_arguments(p, SynthConfig)
    p.set_defaults(func=synth)

    p = subparsers.add_parser("distill", help="distil a language teacher into a ViT student (KD + CE)")
    p.add_argument("data", help="TVL CSV, or a folder holding tvl.csv")
    p.add_argument("--out", required=True, help="run directory (re-run on it to resume)")
    add_arguments(p, StudentConfig)
    add_arguments(p, TrainConfig)
    add_arguments(p, DistillConfig)
    p.set_defaults(func=distill)

    p = subparsers.add_parser("finetune", help="freeze a distilled encoder and train a linear head on labels")
    p.add_argument("data", help="TVL CSV, folder holding tvl.csv, or folder per class")
    p.add_argument("--out", required=True, help="run directory (re-run on it to resume)")
    add_arguments(p, FinetuneConfig)
    add_arguments(p, TrainConfig, defaults=FINETUNE_DEFAULTS)
    p.set_defaults(func=finetune)

    p = subparsers.add_parser("evaluate", help="three-answer evaluation (material / unknown / no_contact) on any "
                              "labelled set: metrics.json, predictions.csv, confusion.png")
    p.add_argument("data", help="labelled data (TVL CSV / folder); classes the model lacks are right only as "
                                "unknown/no_contact, class no_contact must be labelled no_contact")
    p.add_argument("--model", required=True, help="run directory (PyTorch) or exported .onnx")
    p.add_argument("--out", required=True, help="folder for metrics.json, predictions.csv and confusion.png")
    p.add_argument("--threshold", type=float, default=0.5, help="confidence below which the label is 'unknown'")
    p.add_argument("--reference", default="", help="no-contact frame for rows without a background of their own")
    p.set_defaults(func=evaluate)

    p = subparsers.add_parser("export", help="ONNX with dynamic batch + model card (sha256, parity, metrics)")
    p.add_argument("--out", required=True, help="target .onnx (the card is written beside it as .json)")
    add_arguments(p, ExportConfig)
    p.set_defaults(func=export)

    p = subparsers.add_parser("classify", help="classify tactile images with an exported model")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--model", default="", help="exported .onnx with its card (default: the bundled model)")
    p.add_argument("--reference", required=True,
                   help="the sensor's no-contact frame: every image is first checked for contact against it "
                        "(and background-subtracted when the model asks for it)")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="confidence below which the label is 'unknown' (reason low_confidence)")
    p.add_argument("--json", action="store_true",
                   help="one JSON line per image: label, reason, confidence, familiarity, probabilities")
    p.set_defaults(func=classify)

    p = subparsers.add_parser("ablate", help="every KD method + baseline on one budget (the paper's Table III)")
    p.add_argument("data", help="training data (TVL CSV / folder holding tvl.csv)")
    p.add_argument("--test", required=True, help="held-out test data")
    p.add_argument("--out", required=True, help="folder for the runs, ablation.md and ablation.json")
    p.add_argument("--methods", default="", help="comma-separated subset (default: feature,logits,dkd,cosine,none)")
    p.add_argument("--finetune-epochs", type=int, default=FINETUNE_DEFAULTS["epochs"], help="linear-head epochs")
    p.add_argument("--finetune-lr", type=float, default=FINETUNE_DEFAULTS["lr"], help="linear-head learning rate")
    add_arguments(p, StudentConfig)
    add_arguments(p, TrainConfig)
    add_arguments(p, DistillConfig, skip=("method",))
    p.set_defaults(func=ablate)

    p = subparsers.add_parser("explain", help="Grad-CAM and deep-feature-factorisation figures per image")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--out", required=True, help="folder for the figures")
    add_arguments(p, ExplainConfig)
    p.set_defaults(func=explain)

    p = subparsers.add_parser("enrol", help="new materials from a few presses of your own sensor, on top of a "
                              "model's encoder: ONNX model + card (familiarity refitted on the presses)")
    p.add_argument("data", help="enrolment presses: TVL CSV (or the folder holding tvl.csv); classes = its `class` "
                                "values, each row's `background` = the sensor's no-contact frame")
    p.add_argument("--out", required=True, help="the enrolled model .onnx (its card is written beside it as .json)")
    add_arguments(p, EnrolConfig, skip=("data", "out"))
    p.set_defaults(func=enrol)
