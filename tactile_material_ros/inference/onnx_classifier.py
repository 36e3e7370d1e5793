"""Run an exported model with ONNX Runtime: verified card, shared preprocessing, probabilities.

Used by `tactile-material classify`, the export parity check and the classifier node.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tactile_material_ros.inference.familiarity import Familiarity
from tactile_material_ros.inference.model_card import ModelCard, ModelIntegrityError, load_verified_card
from tactile_material_ros.inference.preprocessing import preprocess


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class OnnxClassifier:
    """A verified ONNX model and its card. Refuses a model whose sha256 differs from its card."""

    def __init__(self, model_path: str | Path, card_path: str | Path | None = None, threads: int = 2,
                 spinning: bool = False, require_familiarity: bool = True) -> None:
        """``require_familiarity``: refuse a card without valid familiarity statistics (FamiliarityError);
        only export, which writes them, reads a model without.

        ``spinning``: let ONNX Runtime's idle worker threads busy-wait for the next run. Off by
        default: a robot PC shares its cores with the camera and arm nodes, and a model run at most
        60 times a second would otherwise burn a core between frames and slow everything beside it."""
        import onnxruntime as ort

        self.model_path = Path(model_path)
        self.card: ModelCard = load_verified_card(self.model_path, card_path)
        raw = self.card.extra.get("familiarity")
        self.familiarity: Familiarity | None = (
            Familiarity.from_card(raw, self.card.sha256, f"the card of {self.model_path.name}")
            if require_familiarity or raw else None)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        self._session = ort.InferenceSession(str(self.model_path), options, providers=["CPUExecutionProvider"])
        self._check_outputs()

    def _check_outputs(self) -> None:
        """The card's output exists and, where the graph fixes its width, gives one logit per class of the card."""
        outputs = {o.name: o.shape for o in self._session.get_outputs()}
        shape = outputs.get(self.card.output_name)
        if shape is None:
            raise ModelIntegrityError(f"model {self.model_path.name} has no output {self.card.output_name!r} (its card's "
                                      f"output_name); its outputs: {', '.join(outputs)}")
        width = shape[-1] if shape else None
        if isinstance(width, int) and width != len(self.card.class_names):
            raise ModelIntegrityError(f"model {self.model_path.name} gives {width} logit(s) per frame but its card names "
                                      f"{len(self.card.class_names)} classes; the model and its card do not belong "
                                      "together: export or enrol the model again")

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.card.class_names

    @property
    def sha256(self) -> str:
        return self.card.sha256

    def logits_from_input(self, batch: np.ndarray) -> np.ndarray:
        """Logits (N, C) for already preprocessed input (N, 3, S, S)."""
        return self._session.run([self.card.output_name], {self.card.input_name: batch.astype(np.float32)})[0]

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Logits (N, C) and, when the card names a feature output, the features (N, D) the head reads."""
        names = [self.card.output_name] + ([self.card.feature_name] if self.card.feature_name else [])
        outputs = self._session.run(names, {self.card.input_name: batch.astype(np.float32)})
        return outputs[0], (outputs[1] if len(outputs) > 1 else None)

    def predict_proba(self, frames: np.ndarray | list[np.ndarray], reference: np.ndarray | None = None) -> np.ndarray:
        """Per-class probabilities (N, C), class order = ``class_names``."""
        return softmax(self.logits_from_input(preprocess(frames, self.card.preprocessing, reference)))
