"""The training loop, through Hugging Face Accelerate.

One loop serves distillation (student on images) and fine-tuning (linear head on frozen
features): the caller gives a model, tensor data sets and a ``step`` that turns a batch into a
loss. ``accelerate launch`` spreads the same code over processes, GPUs or nodes. Batches are
global (``split_batches``) and shuffled by a seeded sampler, so N processes see the same
batches as one and, with gradients averaged, train the same model (tested with 2 CPU
processes over gloo).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from tactile_material_ros.learning.kd_losses import KDLossOutput
from tactile_material_ros.learning.runs import RunDir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = field(default=30, metadata={"help": "passes over the training set"})
    batch_size: int = field(default=64, metadata={"help": "global batch size (split over processes)"})
    lr: float = field(default=1e-3, metadata={"help": "peak learning rate (AdamW)"})
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW weight decay"})
    warmup_fraction: float = field(default=0.05, metadata={"help": "share of steps with linear warm-up, then cosine decay"})
    seed: int = field(default=0, metadata={"help": "seed of initialisation, shuffling and the validation split"})
    val_fraction: float = field(default=0.1, metadata={"help": "share of each class held out for validation"})

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs}, {self.batch_size}")
        if not 0 < self.lr < 1:
            raise ValueError(f"lr must be in (0, 1), got {self.lr}")
        if not 0 <= self.val_fraction < 0.9:
            raise ValueError(f"val_fraction must be in [0, 0.9), got {self.val_fraction}")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")


class TensorDict(Dataset):
    """Rows of several equally long tensors, as dicts (``pixels`` are stored float16, served float32)."""

    def __init__(self, **tensors: torch.Tensor) -> None:
        lengths = {len(t) for t in tensors.values()}
        if len(lengths) != 1:
            raise ValueError(f"tensors differ in length: { {k: len(v) for k, v in tensors.items()} }")
        self.tensors = tensors

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: (v[i].float() if v.dtype == torch.float16 else v[i]) for k, v in self.tensors.items()}


Step = Callable[[nn.Module, dict[str, torch.Tensor]], tuple[KDLossOutput, torch.Tensor]]  # -> (loss, logits)


def make_accelerator(cpu: bool | None = None) -> Any:
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration

    return Accelerator(cpu=bool(cpu) if cpu is not None else not torch.cuda.is_available(),
                       dataloader_config=DataLoaderConfiguration(split_batches=True, use_seedable_sampler=True))


@torch.no_grad()
def evaluate_accuracy(model: nn.Module, data: Dataset, step: Step, batch_size: int, device: Any) -> dict[str, float]:
    """Validation accuracy and mean loss over the whole validation set.

    Every process evaluates all of it with the unwrapped model (no collectives, exact means);
    validation sets are small next to the training set.
    """
    model.eval()
    correct, loss_sum = 0, 0.0
    for batch in DataLoader(data, batch_size=batch_size):
        batch = {k: v.to(device) for k, v in batch.items()}
        out, logits = step(model, batch)
        correct += int((logits.argmax(-1) == batch["labels"]).sum())
        loss_sum += float(out.loss) * len(batch["labels"])
    model.train()
    return {"val_accuracy": correct / max(len(data), 1), "val_loss": loss_sum / max(len(data), 1)}


def fit(accelerator: Any, run: RunDir, model: nn.Module, train: Dataset, val: Dataset | None, step: Step,
        config: TrainConfig, desc: str) -> dict[str, Any]:
    """Train ``model`` in place; checkpoints every epoch, resumes from the run's last checkpoint."""
    from accelerate.utils import set_seed
    from transformers import get_cosine_schedule_with_warmup

    set_seed(config.seed)
    batch = min(config.batch_size, len(train))
    # drop_last: an uneven last batch could not be split evenly over processes
    train_loader = DataLoader(train, batch_size=batch, shuffle=True, drop_last=len(train) > batch)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    total_steps = config.epochs * (len(train) // batch if len(train) > batch else 1)
    scheduler = get_cosine_schedule_with_warmup(optimizer, int(config.warmup_fraction * total_steps), total_steps)
    model, optimizer, train_loader, scheduler = accelerator.prepare(model, optimizer, train_loader, scheduler)
    start = 0
    last = run.last_checkpoint()
    if last is not None:
        accelerator.load_state(str(last[1]))
        start = last[0]
        log.info("resuming %s from epoch %d (%s)", run.path, start, last[1])
    record: dict[str, Any] = {}
    for epoch in range(start + 1, config.epochs + 1):
        train_loader.set_epoch(epoch)
        model.train()
        t0 = time.perf_counter()
        sums: dict[str, float] = {}
        n_batches, correct, seen = 0, 0, 0
        bar = tqdm(train_loader, desc=f"{desc} epoch {epoch}/{config.epochs}", unit="batch", leave=False,
                   disable=not accelerator.is_local_main_process)
        for batch_data in bar:
            out, logits = step(model, batch_data)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(out.loss)
            optimizer.step()
            scheduler.step()
            n_batches += 1
            for k, v in {"loss": out.loss, **out.parts}.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            correct += int((logits.argmax(-1) == batch_data["labels"]).sum())
            seen += len(batch_data["labels"])
            bar.set_postfix(loss=f"{float(out.loss.detach()):.3f}")
        seconds = time.perf_counter() - t0
        # each process saw its share of every batch: average the losses, add up the counts
        means = accelerator.reduce(torch.tensor([v / max(n_batches, 1) for v in sums.values()], device=accelerator.device),
                                   "mean").tolist()
        counts = accelerator.reduce(torch.tensor([correct, seen], device=accelerator.device), "sum").tolist()
        record = {"epoch": epoch, **{f"train_{k}": v for k, v in zip(sums, means, strict=True)},
                  "train_accuracy": counts[0] / max(counts[1], 1), "lr": scheduler.get_last_lr()[0],
                  "epoch_seconds": round(seconds, 2), "samples_per_second": round(counts[1] / max(seconds, 1e-9), 1)}
        if val is not None and len(val):
            record.update(evaluate_accuracy(accelerator.unwrap_model(model), val, step, batch, accelerator.device))
        run.log_epoch(record)
        if accelerator.is_main_process:
            log.info("%s epoch %d: %s", desc, epoch,
                     ", ".join(f"{k}={v:.4g}" for k, v in record.items() if isinstance(v, float)))
        accelerator.save_state(str(run.checkpoint_dir(epoch)))
        accelerator.wait_for_everyone()
        run.mark_checkpoint(epoch)
    if not record:  # resumed a finished run: report its last epoch again
        lines = (run.path / "metrics.jsonl").read_text().splitlines() if (run.path / "metrics.jsonl").is_file() else []
        record = json.loads(lines[-1]) if lines else {}
    accelerator.wait_for_everyone()
    return record
