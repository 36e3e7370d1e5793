"""`ablate`: every KD method and the baseline on one budget and one split (the paper's Table III).

For each method: distill on the training data, freeze the encoder and fine-tune a linear head,
evaluate top-1 on the held-out test data. Every run keeps its own directory under ``out`` (so an
interrupted ablation resumes), and the table is written as ``ablation.md`` and ``ablation.json``
beside the paper's numbers (TVL, ViT-B/16 student, BART teacher).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from tactile_material_ros.learning.distill import DistillConfig, distill
from tactile_material_ros.learning.evaluation import evaluate
from tactile_material_ros.learning.finetune import FinetuneConfig, finetune
from tactile_material_ros.learning.kd_losses import build_kd_loss
from tactile_material_ros.learning.students import StudentConfig
from tactile_material_ros.learning.teachers import load_teacher
from tactile_material_ros.learning.trainer import TrainConfig, make_accelerator

log = logging.getLogger(__name__)

# Mohsan et al., Table III: top-1 accuracy [%] on TVL after distillation + linear fine-tuning
PAPER_TABLE_III = {"feature": 89.16, "logits": 74.70, "dkd": 18.07, "cosine": 33.73, "none": 57.83}
METHOD_LABELS = {"feature": "feature-based KD", "logits": "logits-based KD (KL)", "dkd": "decoupled KD",
                 "cosine": "cosine minimisation", "none": "no distillation (ViT baseline)"}


def ablate(data: str | Path, test: str | Path, out: str | Path, student: StudentConfig, distill_train: TrainConfig,
           finetune_train: TrainConfig, base: DistillConfig, methods: tuple[str, ...] = tuple(PAPER_TABLE_III)) -> dict[str, Any]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for method in methods:
        build_kd_loss(method)  # fail before any training on a wrong name
    accelerator = make_accelerator()
    teacher = load_teacher(base.teacher) if any(m != "none" for m in methods) else None
    rows = []
    for method in methods:
        t0 = time.perf_counter()
        run = out / method
        distill(data, run / "distill", student, distill_train, replace(base, method=method), teacher, accelerator)
        finetune(data, run / "finetune", finetune_train, FinetuneConfig(checkpoint=str(run / "distill")), accelerator)
        report = evaluate(run / "finetune", test, run / "evaluate")
        distill_metrics = json.loads((run / "distill" / "metrics.json").read_text())
        rows.append({"method": method, "label": METHOD_LABELS.get(method, method), "top1": round(100 * report["top1"], 2),
                     "paper_top1": PAPER_TABLE_III.get(method),
                     "distill_val_accuracy": round(100 * distill_metrics.get("val_accuracy", float("nan")), 2),
                     "test_samples": report["samples"], "seconds": round(time.perf_counter() - t0, 1)})
        log.info("ablation %s: top-1 %.2f%%", method, rows[-1]["top1"])
    result = {"data": str(Path(data).resolve()), "test": str(Path(test).resolve()), "teacher": base.teacher,
              "student": asdict(student), "distill_train": asdict(distill_train),
              "finetune_train": asdict(finetune_train), "rows": rows}
    (out / "ablation.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "ablation.md").write_text(markdown_table(rows))
    return result


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| method | ours: top-1 [%] (test) | distill val. acc. [%] | paper Table III [%] | run time [s] |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        paper = f"{r['paper_top1']:.2f}" if r["paper_top1"] is not None else "—"
        lines.append(f"| {r['label']} (`{r['method']}`) | {r['top1']:.2f} | {r['distill_val_accuracy']:.2f} | "
                     f"{paper} | {r['seconds']:.0f} |")
    return "\n".join(lines) + "\n"
