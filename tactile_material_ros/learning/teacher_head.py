"""The teacher's class logits for logits-based KD and DKD.

The paper's teacher is a sequence-classification model whose head the authors never train
(``AutoModelForSequenceClassification`` on a frozen encoder), so its logits are random
functions of the caption. Ours, by default, is a linear head fitted once, by multinomial
logistic regression, on the frozen teacher's caption embeddings and the rows' labels
(``fitted``); ``random`` keeps an untrained, seeded head to reproduce theirs.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)

TEACHER_HEADS = ("fitted", "random")


def teacher_head(embeddings: torch.Tensor, labels: torch.Tensor, num_classes: int, mode: str = "fitted",
                 seed: int = 0, steps: int = 300, lr: float = 0.05, weight_decay: float = 1e-4) -> nn.Linear:
    """A linear head (teacher width -> classes) on frozen caption embeddings."""
    if mode not in TEACHER_HEADS:
        raise ValueError(f"teacher head must be one of {TEACHER_HEADS}, got {mode!r}")
    generator = torch.Generator().manual_seed(seed)
    head = nn.Linear(embeddings.shape[1], num_classes)
    with torch.no_grad():
        bound = 1.0 / embeddings.shape[1] ** 0.5
        head.weight.uniform_(-bound, bound, generator=generator)
        head.bias.zero_()
    if mode == "random":
        return head.requires_grad_(False)
    x = embeddings.float()
    optimizer = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.cross_entropy(head(x), labels)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        accuracy = (head(x).argmax(-1) == labels).float().mean().item()
    log.info("teacher head fitted on %d captions: CE %.3f, accuracy %.1f%% (captions alone)",
             len(labels), loss.item(), 100 * accuracy)
    return head.requires_grad_(False)
