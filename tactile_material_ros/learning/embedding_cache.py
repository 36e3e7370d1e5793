"""Disk cache of caption embeddings, keyed by teacher and caption.

The teacher is frozen, so each unique caption is embedded once, ever: one file per teacher
(its name and a fingerprint of its configuration and pooling) maps caption -> row of an
embedding matrix. New captions are embedded and appended; the file is replaced atomically.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import torch

from tactile_material_ros.learning.teachers import HuggingFaceTeacher

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    override = os.environ.get("TACTILE_MATERIAL_CACHE")
    base = Path(override) if override else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tactile_material_ros"
    return base / "embeddings"


class EmbeddingCache:
    def __init__(self, directory: str | Path, teacher: HuggingFaceTeacher) -> None:
        self.teacher = teacher
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", teacher.name)
        self.path = Path(directory) / f"{slug}-{teacher.fingerprint}.pt"
        self.hits = 0
        self.misses = 0

    def _load(self) -> tuple[dict[str, int], torch.Tensor]:
        if self.path.is_file():
            stored = torch.load(self.path, weights_only=True)
            return {c: i for i, c in enumerate(stored["captions"])}, stored["embeddings"]
        return {}, torch.empty(0, self.teacher.dim)

    def embeddings(self, captions: list[str]) -> torch.Tensor:
        """(len(captions), dim) embeddings; only captions never seen by this teacher are computed."""
        index, table = self._load()
        missing = sorted({c for c in captions if c not in index})
        self.misses += len(missing)
        self.hits += len({c for c in captions if c in index})
        if missing:
            log.info("embedding %d new caption(s) with teacher %s", len(missing), self.teacher.name)
            new = self.teacher.embed(missing)
            for caption in missing:
                index[caption] = len(index)
            table = torch.cat([table, new])
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            torch.save({"captions": sorted(index, key=index.__getitem__), "embeddings": table,
                        "teacher": self.teacher.name}, tmp)
            os.replace(tmp, self.path)
        return table[torch.tensor([index[c] for c in captions], dtype=torch.long)]
