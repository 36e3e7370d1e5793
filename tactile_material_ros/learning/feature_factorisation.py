"""Deep feature factorisation (Collins, Achanta, Süsstrunk, "Deep Feature Factorization for
Concept Discovery", ECCV 2018) as pure functions.

A block's patch activations A (channels x positions, made non-negative) are factorised by
non-negative matrix factorisation, A ~ W H, into k concepts: W (channels x k) the concept
directions, H (k x positions) where each concept is present. Scoring each concept direction
with the student's linear head gives it a class name.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Factorisation(NamedTuple):
    concepts: np.ndarray        # W (channels, k)
    maps: np.ndarray            # H (k, positions)
    relative_error: float       # ||A - W H||_F / ||A||_F
    concept_scores: np.ndarray  # (k, classes) softmax of the head on each concept, empty without a head


def nmf(matrix: np.ndarray, k: int, iterations: int = 200, seed: int = 0, eps: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """V ~ W H with W, H >= 0 (Lee & Seung multiplicative updates for the Frobenius norm)."""
    if matrix.min() < 0:
        raise ValueError("NMF needs a non-negative matrix")
    rng = np.random.default_rng(seed)
    rows, cols = matrix.shape
    scale = np.sqrt(matrix.mean() / k) if matrix.mean() > 0 else 1.0
    w = rng.uniform(0.1, 1.0, (rows, k)) * scale
    h = rng.uniform(0.1, 1.0, (k, cols)) * scale
    for _ in range(iterations):
        h *= (w.T @ matrix) / (w.T @ w @ h + eps)
        w *= (matrix @ h.T) / (w @ h @ h.T + eps)
    return w, h


def deep_feature_factorisation(activations: np.ndarray, k: int = 4, head_weight: np.ndarray | None = None,
                               head_bias: np.ndarray | None = None, iterations: int = 200, seed: int = 0) -> Factorisation:
    """Factorise (channels, h, w) activations into ``k`` concepts; score them with a linear head if given."""
    channels = activations.shape[0]
    matrix = np.maximum(activations.reshape(channels, -1).astype(np.float64), 0.0)
    w, h = nmf(matrix, k, iterations, seed)
    error = float(np.linalg.norm(matrix - w @ h) / max(np.linalg.norm(matrix), 1e-12))
    scores = np.empty((k, 0))
    if head_weight is not None:
        # each concept direction at the typical length of a token's activation vector, so the
        # head sees it at the scale it was trained on
        typical = float(np.linalg.norm(matrix, axis=0).mean())
        logits = (typical * w / np.maximum(np.linalg.norm(w, axis=0, keepdims=True), 1e-12)).T @ head_weight.T
        logits = logits + (head_bias if head_bias is not None else 0.0)
        logits = logits - logits.max(1, keepdims=True)
        scores = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return Factorisation(w, h, error, scores)
