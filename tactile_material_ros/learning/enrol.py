"""`enrol`: new materials from a few real presses, on top of a base model's encoder.

A lab's sensor, gel and objects are not the simulator's; the user presses each of their own
objects a few times (``record`` → ``dataset``: the TVL CSV layout) and enrol writes a model
that knows those classes, whatever their names. The enrolled model is one ONNX file that
reads the base model's input (the one preprocessing function, the base's card settings) and
computes, inside the graph:

1. the base encoder's features (the CLS state its head read);
2. hand-made press descriptors of the same input (:mod:`press_descriptors`: colour and
   gradient histograms at three scales, texture band energies, contact shape);
3. each block standardised on the enrolment presses (mean 0, variance 1 per number) and
   weighted by 1/sqrt(its size), so every block counts alike whatever its length (the encoder's
   features at half that weight by default: measured, docs/training.md);
4. a multinomial logistic regression (L2; its strength chosen by stratified
   cross-validation on the presses), its logits divided by a temperature fitted on the
   cross-validated predictions so that the default confidence gate (0.5) declines the presses
   that are more likely wrong than right, and only those (``low_confidence`` means what it says);
5. ``features``: the standardised vector projected on its first principal axes, which the
   familiarity check reads.

Why these, and the figures on a sensor family the encoder never saw: docs/training.md,
"Teach your own materials (enrol)".

The three-answer gates are fitted on the enrolment presses themselves (no held-out set
exists): the familiarity Gaussians on all of them, their thresholds from the same
cross-validation (each press scored against statistics fitted without it), at the quantile
that keeps ``coverage`` of them. The card records the presses' contact scores, and carries a
contact gate of its own only where the presses are fainter than the default gate allows.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from tactile_material_ros.inference.contact_detection import ContactConfig, contact_score
from tactile_material_ros.inference.contact_signature import contact_signature
from tactile_material_ros.inference.familiarity import PER_CLASS, ClassGaussians, Familiarity
from tactile_material_ros.inference.model_card import ModelCard, card_path_for, sha256_file
from tactile_material_ros.inference.onnx_classifier import OnnxClassifier
from tactile_material_ros.inference.preprocessing import FrameError, PreprocessConfig, preprocess
from tactile_material_ros.learning.datasets import DatasetError, SampleTable, load_table, read_frame
from tactile_material_ros.learning.press_descriptors import BLOCKS, PressDescriptors
from tactile_material_ros.learning.runs import git_commit

log = logging.getLogger(__name__)
FEATURE_OUTPUT = "features"
ENCODER_INPUT = "encoder_features"
SENSOR_FILE = "dataset.json"
REGULARISATION_GRID = (1.0, 10.0, 100.0)   # inverse L2 strength C of the logistic head, chosen by cross-validation
TEMPERATURES = np.exp(np.linspace(np.log(0.05), np.log(20.0), 121))
CONTACT_MARGIN = 2.0      # the presses' 2nd percentile contact score must be this far above the gate's exit score
BATCH = 32
DEFAULT_CONFIDENCE = 0.5   # the classifier's default confidence threshold (Recognizer, evaluate, classify)


class EnrolError(ValueError):
    """The enrolment data cannot make a model: the message names the problem and the fix."""


@dataclass(frozen=True)
class EnrolConfig:
    data: str = field(metadata={"help": "enrolment presses: a TVL CSV file or the folder holding tvl.csv"})
    out: str = field(metadata={"help": "the enrolled model (.onnx; its card is written beside it as .json)"})
    base: str = field(default="", metadata={"help": "base model (.onnx with its card) whose encoder is reused "
                                                    "(default: the bundled models/tactile_vit.onnx)"})
    min_presses_per_class: int = field(default=3, metadata={"help": "refuse a class with fewer presses than this"})
    seed: int = field(default=0, metadata={"help": "seed of the cross-validation folds"})
    folds: int = field(default=5, metadata={"help": "cross-validation folds (at most the smallest class's presses)"})
    coverage: float = field(default=0.95, metadata={"help": "share of the enrolment presses the familiarity check "
                                                            "keeps under cross-validation"})
    encoder_weight: float = field(default=0.5, metadata={"help": "weight of the encoder's features against each "
                                                                "descriptor block (1: alike; 0: descriptors only)"})
    familiarity_dims: int = field(default=24, metadata={"help": "principal axes of the familiarity features"})

    def __post_init__(self) -> None:
        if not self.data:
            raise EnrolError("give the enrolment data: a TVL CSV or the folder holding tvl.csv "
                             "(tactile-material dataset BAG... --out DIR writes one)")
        if Path(self.out).suffix != ".onnx":
            raise EnrolError(f"--out {self.out!r} must end in .onnx (the card is written beside it as .json)")
        if self.base and Path(self.base).suffix != ".onnx":
            raise EnrolError(f"--base {self.base!r} must be an exported .onnx model with its card")
        if not 2 <= self.min_presses_per_class <= 1000:
            raise EnrolError(f"--min-presses-per-class {self.min_presses_per_class} is outside [2, 1000] (cross-validation needs 2)")
        if not 2 <= self.folds <= 20:
            raise EnrolError(f"--folds {self.folds} is outside [2, 20]")
        if not 0.5 <= self.coverage < 1.0:
            raise EnrolError(f"--coverage {self.coverage} is outside [0.5, 1)")
        if not 0.0 <= self.encoder_weight <= 10.0:
            raise EnrolError(f"--encoder-weight {self.encoder_weight} is outside [0, 10]")
        if not 2 <= self.familiarity_dims <= 256:
            raise EnrolError(f"--familiarity-dims {self.familiarity_dims} is outside [2, 256]")

    def base_path(self) -> Path:
        if self.base:
            return Path(self.base)
        from tactile_material_ros.paths import model_file

        return model_file()


@dataclass
class Presses:
    """The enrolment presses, read and checked."""

    table: SampleTable
    class_names: tuple[str, ...]
    labels: np.ndarray                  # (N,)
    frames: list[np.ndarray]
    references: list[np.ndarray | None]


# -- reading and checking ------------------------------------------------------------------------
def read_presses(config: EnrolConfig, subtract_background: bool, progress: bool) -> Presses:
    try:
        table = load_table(config.data)
    except DatasetError as exc:
        raise EnrolError(f"{exc}; enrol reads the TVL CSV layout (tactile-material dataset writes it)") from None
    counts = {name: sum(s.label == name for s in table.samples) for name in table.class_names}
    present = [name for name, n in counts.items() if n]
    if len(present) < 2:
        raise EnrolError(f"{table.source} holds presses of {len(present)} class(es) {present}: a model tells at least "
                         "2 materials apart; record presses of another material and add them to the data")
    few = {name: n for name, n in counts.items() if n < config.min_presses_per_class}
    if few:
        listed = ", ".join(f"{name!r} has {n}" for name, n in few.items())
        raise EnrolError(f"too few presses: {listed} (at least {config.min_presses_per_class} per class); record more "
                         "presses of these objects, remove the class from the data (and classes.txt), or lower "
                         "--min-presses-per-class")
    frames: list[np.ndarray] = []
    references: list[np.ndarray | None] = []
    cache: dict[Path, np.ndarray | None] = {}
    for sample in tqdm(table.samples, desc="enrol: reading presses", unit="img", disable=not progress):
        frame = read_frame(sample.tactile)
        if frame is None:
            raise EnrolError(f"{table.source}:{sample.line}: cannot read {sample.tactile.name} (sample "
                             f"{sample.sample_id}); restore the file or remove its row")
        reference = None
        if sample.background is not None:
            if sample.background not in cache:
                cache[sample.background] = read_frame(sample.background)
            reference = cache[sample.background]
            if reference is None:
                raise EnrolError(f"{table.source}:{sample.line}: cannot read the background {sample.background.name}; "
                                 "restore it or record the sensor's no-contact frame again")
        elif subtract_background:
            raise EnrolError(f"{table.source}:{sample.line}: sample {sample.sample_id} has no background, and the base "
                             "model subtracts the sensor's no-contact frame: fill the row's `background` column with "
                             "a frame taken with nothing touching the gel")
        frames.append(frame)
        references.append(reference)
    sizes: dict[str, int] = {}
    for image in [*frames, *(r for r in references if r is not None)]:
        key = f"{image.shape[1]}x{image.shape[0]}"
        sizes[key] = sizes.get(key, 0) + 1
    if len(sizes) > 1:
        listed = ", ".join(f"{n} at {k}" for k, n in sorted(sizes.items(), key=lambda kv: -kv[1]))
        raise EnrolError(f"frames of mixed sizes in {table.source} ({listed}, backgrounds included): one model "
                         "learns one sensor at one resolution; record all presses and backgrounds with the same "
                         "sensor settings, or enrol each resolution separately")
    index = {name: i for i, name in enumerate(present)}
    labels = np.array([index[s.label] for s in table.samples], dtype=np.int64)
    return Presses(table, tuple(present), labels, frames, references)


def sensor_serial(data: str | Path) -> str:
    """The ``sensor_serial`` of ``dataset.json`` beside the CSV, or ""."""
    path = Path(data)
    folder = path if path.is_dir() else path.parent
    meta = folder / SENSOR_FILE
    if not meta.is_file():
        return ""
    try:
        return str(json.loads(meta.read_text()).get("sensor_serial") or "")
    except (ValueError, AttributeError):
        log.warning("%s is not a JSON object: sensor serial unknown", meta)
        return ""


def data_csv(data: str | Path) -> Path:
    path = Path(data)
    return path / "tvl.csv" if path.is_dir() else path


# -- the head -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Standardiser:
    """Per-number centre and scale of each block: ``(x - centre) * scale``."""

    centre: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, blocks: list[np.ndarray], weights: list[float]) -> Standardiser:
        centres, scales = [], []
        for x, weight in zip(blocks, weights, strict=True):
            spread = x.std(axis=0)
            spread = np.maximum(spread, 1e-3 * max(float(spread.mean()), 1e-6))
            centres.append(x.mean(axis=0))
            scales.append(weight / np.sqrt(x.shape[1]) / spread)
        return cls(np.concatenate(centres), np.concatenate(scales))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (x - self.centre) * self.scale


def _folds(labels: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """Stratified fold index of every press: each class spread over the folds."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        fold[idx] = (np.arange(len(idx)) + rng.integers(folds)) % folds
    return [np.flatnonzero(fold == k) for k in range(folds)]


def _fit_logistic(z: np.ndarray, labels: np.ndarray, strength: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=strength, max_iter=3000, random_state=seed).fit(z, labels)
    weight, bias = model.coef_.astype(np.float64), model.intercept_.astype(np.float64)
    if len(weight) == 1:  # two classes: one logit w·z + b for the second; as two softmax logits, ∓(w·z + b)/2
        weight, bias = np.concatenate([-weight, weight]) / 2, np.concatenate([-bias, bias]) / 2
    return weight, bias


def _logits(z: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    return z @ weight.T + bias


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def cross_validate(z: np.ndarray, labels: np.ndarray, folds: list[np.ndarray], seed: int,
                   progress: bool) -> tuple[float, np.ndarray, dict[str, float]]:
    """The logistic head's regularisation chosen by cross-validated accuracy (ties: the weakest); its out-of-fold
    logits."""
    scores: dict[str, float] = {}
    best: tuple[float, float, np.ndarray] | None = None
    jobs = [(c, k) for c in REGULARISATION_GRID for k in range(len(folds))]
    out_of_fold = {c: np.zeros((len(labels), int(labels.max()) + 1)) for c in REGULARISATION_GRID}
    for strength, k in tqdm(jobs, desc="enrol: cross-validation", unit="fit", disable=not progress):
        test = folds[k]
        train = np.setdiff1d(np.arange(len(labels)), test)
        weight, bias = _fit_logistic(z[train], labels[train], strength, seed)
        logits = np.full((len(test), out_of_fold[strength].shape[1]), -1e4)
        logits[:, np.unique(labels[train])] = _logits(z[test], weight, bias)
        out_of_fold[strength][test] = logits
    for strength in REGULARISATION_GRID:
        accuracy = float(np.mean(out_of_fold[strength].argmax(1) == labels))
        scores[f"C={strength:g}"] = accuracy
        if best is None or accuracy >= best[1] - 1e-9:   # a tie goes to the weaker regularisation (docs/training.md)
            best = (strength, accuracy, out_of_fold[strength])
    assert best is not None
    return best[0], best[2], scores


def fit_temperature(logits: np.ndarray, labels: np.ndarray, threshold: float = DEFAULT_CONFIDENCE) -> float:
    """The temperature T of softmax(logits / T) under which the classifier's confidence gate (``threshold``)
    declines the presses that are more likely wrong than right, measured on cross-validated logits.

    T minimises the decision cost of the gate: 1 for a wrong material, ``threshold`` for an ``unknown``
    (the costs at which declining pays exactly below that confidence), the negative log-likelihood
    (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017) breaking ties, on a log grid."""
    best, best_cost = float(TEMPERATURES[0]), np.inf
    rows = np.arange(len(labels))
    for t in TEMPERATURES:
        log_p = _log_softmax(logits / t)
        confident = np.exp(log_p.max(axis=1)) >= threshold
        wrong = log_p.argmax(axis=1) != labels
        cost = np.mean(confident & wrong) + threshold * np.mean(~confident) - 1e-3 * np.mean(log_p[rows, labels])
        if cost < best_cost - 1e-12:
            best, best_cost = float(t), cost
    return best


class EnrolledHead(nn.Module):
    """(pixel values, base encoder features) -> (logits, familiarity features): the exported head."""

    def __init__(self, preprocessing: PreprocessConfig, standardiser: Standardiser, weight: np.ndarray,
                 bias: np.ndarray, temperature: float, axes_centre: np.ndarray, axes: np.ndarray) -> None:
        super().__init__()
        self.descriptors = PressDescriptors(preprocessing)

        def tensor(a: np.ndarray) -> torch.Tensor:
            return torch.tensor(np.asarray(a), dtype=torch.float32)

        self.register_buffer("centre", tensor(standardiser.centre))
        self.register_buffer("scale", tensor(standardiser.scale))
        self.register_buffer("weight", tensor(weight.T / temperature))
        self.register_buffer("bias", tensor(bias / temperature))
        self.register_buffer("axes_centre", tensor(axes_centre))
        self.register_buffer("axes", tensor(axes))

    def forward(self, pixel_values: torch.Tensor, encoder_features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([encoder_features, self.descriptors(pixel_values)], dim=1)
        z = (x - self.centre) * self.scale
        return z @ self.weight + self.bias, (z - self.axes_centre) @ self.axes


# -- familiarity ----------------------------------------------------------------------------------
def fit_enrolled_familiarity(inputs: dict[str, np.ndarray], labels: np.ndarray, out_of_fold: np.ndarray,
                             folds: list[np.ndarray], coverage: float) -> Familiarity:
    """Gaussians on every press; thresholds from the presses' distances under statistics fitted without them."""
    n_classes = int(labels.max()) + 1
    quantile = 1.0 - (1.0 - coverage) / len(inputs)
    predicted = out_of_fold.argmax(1)
    detectors = {}
    held: dict[str, np.ndarray] = {}
    for name, x in inputs.items():
        distances = np.empty(len(labels))
        for test in folds:
            train = np.setdiff1d(np.arange(len(labels)), test)
            gaussians = ClassGaussians.fit(x[train], labels[train], n_classes, per_class=name in PER_CLASS)
            distances[test] = gaussians.distances(x[test], predicted[test])
        threshold = float(np.quantile(distances, quantile))
        held[name] = distances / threshold
        detectors[name] = ClassGaussians.fit(x, labels, n_classes, per_class=name in PER_CLASS).with_threshold(threshold)
    kept = {name: float(np.mean(r <= 1.0)) for name, r in held.items()}
    kept["all"] = float(np.mean(np.max(np.stack(list(held.values())), axis=0) <= 1.0))
    calibration = {"set_on": f"the enrolment presses, {len(folds)}-fold cross-validation (each press scored against "
                             "statistics fitted without it, against its out-of-fold predicted class)",
                   "fit_frames": int(len(labels)), "per_detector_quantile": quantile, "kept_under_cross_validation": kept}
    return Familiarity(detectors, coverage, calibration)


def contact_section(scores: np.ndarray) -> dict[str, Any]:
    """The presses' contact scores and, when the default gate would drop faint ones, a gate of this model's own."""
    default = ContactConfig()
    low = float(np.percentile(scores, 2))
    section: dict[str, Any] = {"press_scores": {"min": float(scores.min()), "p2": low,
                                                "median": float(np.median(scores)), "max": float(scores.max())},
                               "default_exit_score": default.exit_score}
    if low < CONTACT_MARGIN * default.exit_score:
        exit_score = max(0.005, low / CONTACT_MARGIN)
        section["gate"] = {"exit_score": exit_score, "enter_score": max(1.5 * exit_score, min(default.enter_score,
                                                                                               low))}
        section["note"] = (f"the enrolment presses are faint (2nd percentile {low:.3f} < {CONTACT_MARGIN} x the "
                           f"default exit score {default.exit_score}): this model carries its own contact gate")
    return section


# -- the pipeline ---------------------------------------------------------------------------------
def _batched(function: Any, pixels: np.ndarray, desc: str, progress: bool) -> np.ndarray:
    out = []
    for i in tqdm(range(0, len(pixels), BATCH), desc=desc, unit="batch", disable=not progress):
        out.append(function(pixels[i:i + BATCH]))
    return np.concatenate(out)


def _without_paths(architecture: Any) -> Any:
    """The base card's architecture without its ``pretrained`` entry (a folder on the machine it was trained on)."""
    if isinstance(architecture, dict):
        return {k: v for k, v in architecture.items() if k != "pretrained"}
    return architecture


def _command(config: EnrolConfig) -> str:
    """The command, with file names only (no machine paths)."""
    parts = ["tactile-material", "enrol", data_csv(config.data).name, "--out", Path(config.out).name]
    if config.base:
        parts += ["--base", Path(config.base).name]
    defaults = EnrolConfig(data="x", out="x.onnx")
    for name in ("min_presses_per_class", "seed", "folds", "coverage", "encoder_weight", "familiarity_dims"):
        if getattr(config, name) != getattr(defaults, name):
            parts += [f"--{name.replace('_', '-')}", str(getattr(config, name))]
    return " ".join(parts)


def _export(head: EnrolledHead, base_path: Path, base_card: ModelCard, out: Path, pixels: np.ndarray,
            encoder: np.ndarray) -> None:
    import onnx

    from tactile_material_ros.learning.onnx_graft import graft

    opset = max((o.version for o in onnx.load(str(base_path), load_external_data=False).opset_import
                 if o.domain in ("", "ai.onnx")), default=17)
    with tempfile.TemporaryDirectory() as tmp:
        head_path = Path(tmp) / "head.onnx"
        torch.onnx.export(head.eval(), (torch.from_numpy(pixels[:2]), torch.from_numpy(encoder[:2]).float()),
                          str(head_path), input_names=[base_card.input_name, ENCODER_INPUT],
                          output_names=["logits", FEATURE_OUTPUT],
                          dynamic_axes={base_card.input_name: {0: "batch"}, ENCODER_INPUT: {0: "batch"},
                                        "logits": {0: "batch"}, FEATURE_OUTPUT: {0: "batch"}},
                          opset_version=max(opset, 17), dynamo=False)
        model = graft(onnx.load(str(base_path)), base_card.feature_name, onnx.load(str(head_path)), ENCODER_INPUT)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))


def enrol(config: EnrolConfig, progress: bool = True) -> dict[str, Any]:
    """Write ``config.out`` (.onnx) and its card; returns the card's contents."""
    started = time.perf_counter()
    base_path = config.base_path()
    if not base_path.is_file():
        raise EnrolError(f"base model {base_path} not found: give --base MODEL.onnx (with its card beside it)")
    base = OnnxClassifier(base_path, require_familiarity=False)
    card = base.card
    if not card.feature_name:
        raise EnrolError(f"base model {base_path.name} has no feature output, so its encoder cannot be reused: "
                         "re-export it with `tactile-material export`")
    preprocessing = card.preprocessing
    presses = read_presses(config, preprocessing.subtract_background, progress)
    labels, n_classes = presses.labels, len(presses.class_names)
    try:
        pixels = np.concatenate([
            preprocess(frame, preprocessing, ref if preprocessing.subtract_background else None)
            for frame, ref in zip(presses.frames, presses.references, strict=True)])
    except FrameError as exc:
        raise EnrolError(f"{presses.table.source}: {exc}") from None
    encoder = _batched(lambda b: base.run(b)[1], pixels, "enrol: base encoder", progress).astype(np.float64)
    descriptors_module = PressDescriptors(preprocessing).eval()
    with torch.no_grad():
        descriptors = _batched(lambda b: descriptors_module(torch.from_numpy(b)).numpy(), pixels,
                               "enrol: press descriptors", progress).astype(np.float64)
    blocks, start = [encoder], 0
    for size in BLOCKS.values():
        blocks.append(descriptors[:, start:start + size])
        start += size
    standardiser = Standardiser.fit(blocks, [config.encoder_weight, *[1.0] * len(BLOCKS)])
    z = standardiser(np.concatenate(blocks, axis=1))

    folds = _folds(labels, min(config.folds, int(np.bincount(labels).min())), config.seed)
    strength, out_of_fold, scores = cross_validate(z, labels, folds, config.seed, progress)
    temperature = fit_temperature(out_of_fold, labels)
    weight, bias = _fit_logistic(z, labels, strength, config.seed)
    axes_centre = z.mean(axis=0)
    dims = max(2, min(config.familiarity_dims, len(labels) - n_classes - 1, z.shape[1]))
    axes = np.linalg.svd(z - axes_centre, full_matrices=False)[2][:dims].T
    head = EnrolledHead(preprocessing, standardiser, weight, bias, temperature, axes_centre, axes)

    out = Path(config.out)
    _export(head, base_path, card, out, pixels, encoder.astype(np.float32))
    familiarity_features = (z - axes_centre) @ axes
    inputs = {"features": familiarity_features}
    if all(r is not None for r in presses.references):
        inputs["signature"] = np.stack([contact_signature(f, r) for f, r in zip(presses.frames, presses.references,
                                                                               strict=True)])
        contact = contact_section(np.array([contact_score(f, r) for f, r in zip(presses.frames, presses.references,
                                                                                strict=True)]))
    else:
        contact = {"note": "no backgrounds in the enrolment data: contact scores not measured"}
    familiarity = fit_enrolled_familiarity(inputs, labels, out_of_fold / temperature, folds, config.coverage)

    oof = out_of_fold / temperature
    probabilities = np.exp(_log_softmax(oof))
    predicted = oof.argmax(1)
    per_class = {name: int(n) for name, n in zip(presses.class_names, np.bincount(labels, minlength=n_classes),
                                                 strict=True)}
    recall = [float(np.mean(predicted[labels == c] == c)) for c in range(n_classes)]
    confident = probabilities.max(1) >= DEFAULT_CONFIDENCE
    data_path = data_csv(config.data)
    serial = sensor_serial(config.data)
    extra: dict[str, Any] = {
        "architecture": {"family": "enrolled: the base model's encoder + in-graph press descriptors + logistic head",
                         "base_architecture": _without_paths(card.extra.get("architecture")),
                         "descriptor_blocks": dict(BLOCKS),
                         "encoder_features": int(encoder.shape[1]), "familiarity_features": int(dims)},
        "enrolment": {
            "method": "logistic regression (multinomial, L2) on the base encoder's features + press descriptors, "
                      "each block standardised on the presses and weighted 1/sqrt(size); regularisation by "
                      "cross-validation; temperature-scaled (docs/training.md, Teach your own materials)",
            "presses_per_class": per_class, "sensor_serial": serial or None,
            "regularisation_C": strength, "temperature": temperature, "encoder_weight": config.encoder_weight,
            "cross_validation": {
                "folds": len(folds), "seed": config.seed, "accuracy_by_C": scores,
                "top1": float(np.mean(predicted == labels)), "balanced_accuracy": float(np.mean(recall)),
                "share_at_or_above_confidence_0.5": float(np.mean(confident)),
                "top1_of_those": float(np.mean(predicted[confident] == labels[confident])) if confident.any() else None,
                "note": "folds mix presses of the same objects: a figure for other presses of enrolled objects, "
                        "not for objects never pressed"},
        },
        "contact": contact,
        "provenance": {"enrol": {"command": _command(config), "git": git_commit(),
                                 "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                 "seconds": None},
                       "data": {"file": data_path.name, "sha256": sha256_file(data_path),
                                "presses": int(len(labels))},
                       "base": {"file": base_path.name, "sha256": card.sha256}},
    }
    sha256 = sha256_file(out)
    written = ModelCard(class_names=presses.class_names, preprocessing=preprocessing, sha256=sha256,
                        model_file=out.name, input_name=card.input_name, feature_name=FEATURE_OUTPUT,
                        extra={**extra, "familiarity": familiarity.to_card(sha256)})
    written.save(card_path_for(out))
    check = OnnxClassifier(out)
    logits, features = check.run(pixels[:BATCH])
    reference = _logits(z[:BATCH], weight, bias) / temperature
    parity = {"frames": int(len(logits)), "max_abs_logit_diff": float(np.abs(logits - reference).max()),
              "max_abs_feature_diff": float(np.abs(features - familiarity_features[:BATCH]).max()),
              "inputs": "enrolment presses"}
    if parity["max_abs_logit_diff"] > 1e-2 * max(1.0, float(np.abs(reference).max())):
        raise EnrolError(f"the exported graph does not reproduce the head (max |logit difference| "
                         f"{parity['max_abs_logit_diff']:.3g}): report this with the data's command")
    extra["parity"] = parity
    extra["provenance"]["enrol"]["seconds"] = round(time.perf_counter() - started, 1)
    written = ModelCard(class_names=presses.class_names, preprocessing=preprocessing, sha256=sha256,
                        model_file=out.name, input_name=card.input_name, feature_name=FEATURE_OUTPUT,
                        extra={**extra, "familiarity": familiarity.to_card(sha256)})
    written.save(card_path_for(out))
    log.info("enrolled %d classes from %d presses -> %s (cross-validated top-1 %.1f%%, C=%g, T=%.2f) in %.0f s",
             n_classes, len(labels), out.name, 100 * extra["enrolment"]["cross_validation"]["top1"], strength,
             temperature, time.perf_counter() - started)
    return written.to_dict()

