"""`distill`: train the ViT student on tactile images against a frozen language teacher.

The teacher reads each row's caption once (embeddings cached on disk); the student reads the
image and is trained with the chosen KD loss from the registry (``none`` = plain
cross-entropy, the non-distilled baseline).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from tactile_material_ros.inference.preprocessing import PreprocessConfig
from tactile_material_ros.learning.datasets import (
    DatasetError,
    ImageTensors,
    SampleTable,
    load_images,
    load_table,
    stratified_split,
)
from tactile_material_ros.learning.embedding_cache import EmbeddingCache, default_cache_dir
from tactile_material_ros.learning.kd_losses import KDLoss, KDLossOutput, TeacherTargets, build_kd_loss
from tactile_material_ros.learning.photometric import PhotometricAugmentation, augment, zero_level
from tactile_material_ros.learning.runs import RunDir
from tactile_material_ros.learning.students import (
    StudentConfig,
    TactileViT,
    build_student,
    input_size,
    load_encoder_weights,
    save_student,
)
from tactile_material_ros.learning.teacher_head import TEACHER_HEADS, teacher_head
from tactile_material_ros.learning.teachers import DEFAULT_TEACHER, HuggingFaceTeacher, load_teacher
from tactile_material_ros.learning.trainer import TensorDict, TrainConfig, fit, make_accelerator

log = logging.getLogger(__name__)


def parse_kd_params(items: tuple[str, ...] | list[str]) -> dict[str, float]:
    """["alpha=0.5", "temperature=2"] -> {"alpha": 0.5, "temperature": 2.0}"""
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"KD parameter {item!r} must look like name=value, e.g. alpha=0.25")
        params[key.strip()] = float(value)
    return params


@dataclass(frozen=True)
class DistillConfig:
    method: str = field(default="feature", metadata={"help": "KD method: feature, logits, dkd, cosine, none"})
    kd_param: tuple[str, ...] = field(default=(), metadata={"help": "override a KD hyper-parameter, e.g. alpha=0.5 (repeatable)"})
    teacher: str = field(default=DEFAULT_TEACHER, metadata={"help": "minilm (offline default), a Hugging Face id or a model folder"})
    teacher_head: str = field(default="fitted", metadata={"help": "teacher logits for logits/dkd: fitted (ours) or random (the authors')"})
    subtract_background: bool = field(default=True, metadata={"help": "subtract each sensor's no-contact frame"})
    cache_dir: str = field(default="", metadata={"help": "caption embedding cache (default ~/.cache/tactile_material_ros/embeddings)"})
    init_from: str = field(default="", metadata={"help": "start from a saved student (a run's model/ or an exported NAME_torch/ folder): its encoder weights; the rest as usual"})
    augment: bool = field(default=False, metadata={"help": "photometric augmentation of each training batch (contact strength, LED hue, blur, noise; learning/photometric.py)"})

    def __post_init__(self) -> None:
        if self.teacher_head not in TEACHER_HEADS:
            raise ValueError(f"teacher_head must be one of {TEACHER_HEADS}, got {self.teacher_head!r}")

    def kd_loss(self) -> KDLoss:
        return build_kd_loss(self.method, **parse_kd_params(self.kd_param))


@dataclass
class PreparedData:
    table: SampleTable
    images: ImageTensors
    train_rows: torch.Tensor  # indices into images
    val_rows: torch.Tensor
    preprocessing: PreprocessConfig


def prepare_data(table: SampleTable, preprocessing: PreprocessConfig, train: TrainConfig) -> PreparedData:
    """Preprocess a data set's images and split them (stratified, seeded) into train / validation."""
    images = load_images(table, preprocessing, desc=Path(table.source).parent.name)
    train_idx, val_idx = stratified_split(images.labels.numpy(), train.val_fraction, train.seed)
    return PreparedData(table, images, torch.from_numpy(train_idx), torch.from_numpy(val_idx), preprocessing)


def data_summary(prepared: PreparedData, path: str | Path) -> dict[str, Any]:
    return {"path": str(Path(path).resolve()), "samples": len(prepared.images.rows),
            "skipped": [str(p) for p in prepared.table.problems + prepared.images.problems][:50],
            "train": len(prepared.train_rows), "val": len(prepared.val_rows),
            "class_names": list(prepared.table.class_names)}


def teacher_targets(accelerator: Any, kd: KDLoss, config: DistillConfig, prepared: PreparedData, seed: int,
                    teacher: HuggingFaceTeacher | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Per-image teacher features and/or logits, as ``kd`` needs them."""
    if not (kd.needs_features or kd.needs_logits):
        return {}, {}
    if not prepared.table.has_captions:
        raise DatasetError(f"KD method {kd.name!r} needs a caption per row; {prepared.table.source} has none "
                           "(folder-per-class data can only train the baseline: --method none)")
    teacher = teacher or load_teacher(config.teacher)
    captions = [prepared.table.samples[i].caption for i in prepared.images.rows]
    cache = EmbeddingCache(config.cache_dir or default_cache_dir(), teacher)
    with accelerator.main_process_first():
        embeddings = cache.embeddings(captions)
    out: dict[str, torch.Tensor] = {}
    info: dict[str, Any] = {"teacher": teacher.name, "teacher_dim": teacher.dim, "unique_captions": len(set(captions))}
    if kd.needs_features:
        out["teacher_features"] = embeddings
    if kd.needs_logits:
        rows = prepared.train_rows
        head = teacher_head(embeddings[rows], prepared.images.labels[rows], len(prepared.table.class_names),
                            config.teacher_head, seed)
        with torch.no_grad():
            out["teacher_logits"] = head(embeddings)
            info["teacher_head_train_accuracy"] = float(
                (out["teacher_logits"][rows].argmax(-1) == prepared.images.labels[rows]).float().mean())
    return out, info


def distill(data: str | Path, out: str | Path, student_config: StudentConfig, train: TrainConfig,
            config: DistillConfig, teacher: HuggingFaceTeacher | None = None, accelerator: Any = None) -> dict[str, Any]:
    """Run (or resume) a distillation run in ``out``; returns its final metrics."""
    from accelerate.utils import set_seed

    accelerator = accelerator or make_accelerator()
    kd = config.kd_loss()
    run = RunDir(out, accelerator.is_main_process)
    set_seed(train.seed)
    table = load_table(data)
    if teacher is None and (kd.needs_features or kd.needs_logits):
        teacher = load_teacher(config.teacher)
    # the projection exists only when the loss uses features; it maps into the teacher's width
    student = build_student(student_config, len(table.class_names), teacher.dim if kd.needs_features and teacher else None)
    if config.init_from:
        load_encoder_weights(student, config.init_from)
    student_config = replace(student_config, image_size=input_size(student))
    preprocessing = PreprocessConfig(image_size=student_config.image_size, subtract_background=config.subtract_background)
    prepared = prepare_data(table, preprocessing, train)
    targets, teacher_info = teacher_targets(accelerator, kd, config, prepared, train.seed, teacher)
    resolved = {"student": asdict(student_config), "train": asdict(train), "distill": asdict(config),
                "kd_params": kd.params(), "preprocessing": preprocessing.to_dict()}
    run.start("distill", resolved, {"seed": train.seed}, data_summary(prepared, data))

    def dataset(rows: torch.Tensor) -> TensorDict:
        return TensorDict(pixels=prepared.images.pixels[rows], labels=prepared.images.labels[rows],
                          **{k: v[rows] for k, v in targets.items()})

    zero = zero_level(preprocessing)
    augmentation = PhotometricAugmentation()

    def step(model: TactileViT, batch: dict[str, torch.Tensor]) -> tuple[KDLossOutput, torch.Tensor]:
        pixels = batch["pixels"]
        if config.augment and model.training:
            pixels = augment(pixels, zero, augmentation)
        output = model(pixels)
        loss = kd(output, TeacherTargets(batch.get("teacher_features"), batch.get("teacher_logits")), batch["labels"])
        return loss, output.logits

    final = fit(accelerator, run, student, dataset(prepared.train_rows), dataset(prepared.val_rows), step, train,
                desc=f"distill[{kd.name}]")
    metrics = {**final, **teacher_info, "method": kd.name, "processes": accelerator.num_processes}
    if accelerator.is_main_process:
        save_student(accelerator.unwrap_model(student), run.model_dir, student_config, list(prepared.table.class_names),
                     {"preprocessing": preprocessing.to_dict(), "stage": "distill", "method": kd.name,
                      "run": str(Path(out).resolve())})
        run.write_json("metrics.json", metrics)
    accelerator.wait_for_everyone()
    return metrics
