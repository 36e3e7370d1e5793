"""A small real ONNX model with its card, for tests that must not wait for the trained model.

The graph is a genuine classifier over the preprocessed input (N, 3, S, S): 3x3 convolution,
ReLU, global average pooling, a linear layer to the 19 classes of the material library.
Weights are random but seeded, so the same frame always gives the same probabilities and
different frames give different ones. It is written with onnx.helper (no torch needed) and
run by ONNX Runtime exactly as the bundled model is. Like an exported model it has a second
output, ``features`` (the pooled activations its linear layer reads), and a card with
familiarity statistics: permissive ones by default (nothing is unfamiliar to it), or the
``familiarity`` given.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tactile_material_ros.inference.contact_signature import SIGNATURE_NAMES
from tactile_material_ros.inference.familiarity import ClassGaussians, Familiarity
from tactile_material_ros.inference.model_card import ModelCard, sha256_file
from tactile_material_ros.inference.preprocessing import PreprocessConfig
from tactile_material_ros.sim.materials import default_library

HIDDEN = 8


def permissive_familiarity(n_classes: int) -> Familiarity:
    """Statistics under which every frame is familiar (thresholds far beyond any distance)."""
    def wide(dim: int) -> ClassGaussians:
        return ClassGaussians(np.zeros((n_classes, dim)), np.eye(dim), 1e30)
    return Familiarity({"features": wide(HIDDEN), "signature": wide(len(SIGNATURE_NAMES))}, 0.99,
                       {"note": "test fixture: permissive"})


def make_test_model(directory: Path, image_size: int = 32, subtract_background: bool = True,
                    seed: int = 0, name: str = "test_model", familiarity: Familiarity | None = None) -> Path:
    """Write ``directory/name.onnx`` and its card ``name.json``; return the .onnx path."""
    classes = default_library().names
    rng = np.random.default_rng(seed)
    weights = {
        "conv_w": rng.normal(0, 0.5, (HIDDEN, 3, 3, 3)).astype(np.float32),
        "conv_b": rng.normal(0, 0.1, HIDDEN).astype(np.float32),
        "fc_w": rng.normal(0, 1.0, (HIDDEN, len(classes))).astype(np.float32),
        "fc_b": rng.normal(0, 0.1, len(classes)).astype(np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["pixel_values", "conv_w", "conv_b"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("GlobalAveragePool", ["relu"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_tactile_classifier",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, image_size, image_size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", len(classes)]),
         helper.make_tensor_value_info("flat", TensorProto.FLOAT, ["batch", HIDDEN])],
        initializer=[numpy_helper.from_array(v, k) for k, v in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.checker.check_model(model)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.onnx"
    onnx.save(model, str(path))
    sha256 = sha256_file(path)
    card = ModelCard(
        class_names=tuple(classes),
        preprocessing=PreprocessConfig(image_size=image_size, subtract_background=subtract_background),
        sha256=sha256,
        model_file=path.name,
        feature_name="flat",
        extra={"architecture": "test fixture: conv3x3-relu-gap-linear, random seeded weights",
               "familiarity": (familiarity or permissive_familiarity(len(classes))).to_card(sha256)},
    )
    card.save(path.with_suffix(".json"))
    return path
