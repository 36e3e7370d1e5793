"""Graft a head onto an exported model: one ONNX file, one input, the base's encoder inside.

`enrol` exports its head (descriptors + standardisation + linear layer, learning/enrol.py) from
PyTorch as a graph with two inputs, the model input and the base model's features; this joins
it to the base graph so that the result reads only the model input again. Every name of the
base graph is prefixed ``base/``, so the two graphs never clash; the base's own outputs are
dropped (still computed where the head reads them).
"""

from __future__ import annotations

import onnx
from onnx import compose, helper

BASE_PREFIX = "base/"


def graft(base: onnx.ModelProto, base_feature: str, head: onnx.ModelProto, head_feature_input: str) -> onnx.ModelProto:
    """``head`` fed by ``base``: the head's input ``head_feature_input`` becomes the base's output
    ``base_feature``; the other input of the head must be the base's input (same name)."""
    if len(base.graph.input) != 1:
        raise ValueError(f"base model has {len(base.graph.input)} inputs; a tactile model has one (the pixels)")
    pixels = base.graph.input[0].name
    head_inputs = {i.name for i in head.graph.input}
    if head_inputs != {pixels, head_feature_input}:
        raise ValueError(f"head inputs {sorted(head_inputs)}: expected {pixels!r} and {head_feature_input!r}")
    if base_feature not in {o.name for o in base.graph.output}:
        raise ValueError(f"base model has no output {base_feature!r}: re-export it (it needs a feature output)")
    prefixed = compose.add_prefix(base, BASE_PREFIX)
    graph = prefixed.graph
    nodes = [helper.make_node("Identity", [pixels], [BASE_PREFIX + pixels], name="graft/pixels"),
             *graph.node,
             helper.make_node("Identity", [BASE_PREFIX + base_feature], [head_feature_input], name="graft/features"),
             *head.graph.node]
    merged = helper.make_graph(
        nodes, f"{base.graph.name}+enrolled_head",
        [i for i in head.graph.input if i.name == pixels],
        list(head.graph.output),
        initializer=[*graph.initializer, *head.graph.initializer],
        value_info=[*graph.value_info, *head.graph.value_info],
    )
    opsets: dict[str, int] = {}
    for entry in [*base.opset_import, *head.opset_import]:
        opsets[entry.domain] = max(opsets.get(entry.domain, 0), entry.version)
    model = helper.make_model(merged, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()],
                              ir_version=max(base.ir_version, head.ir_version), producer_name="tactile-material enrol")
    onnx.checker.check_model(model)
    return model
