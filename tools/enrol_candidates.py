"""Compare feature sets and heads for `enrol` on the held-out simulated sensor family (docs/training.md).

    python tools/enrol_candidates.py FAMILY_DIR [--enrolled-objects 8]

FAMILY_DIR is the ``family/`` folder that ``python bench/bench_enrol.py --out DIR`` leaves in DIR
(learning/object_presses.py). The split is the bench's: 2 presses of the first
``--enrolled-objects`` objects of each material enrolled, their other presses and all presses of
the other objects tested. Figures are the argmax of each head (no gates), top-1 on other presses
of enrolled objects and balanced accuracy on objects not enrolled.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from tactile_material_ros.inference.onnx_classifier import OnnxClassifier
from tactile_material_ros.inference.preprocessing import preprocess
from tactile_material_ros.learning.datasets import load_table, read_frame
from tactile_material_ros.learning.enrol import Standardiser
from tactile_material_ros.learning.press_descriptors import BLOCKS, PressDescriptors
from tactile_material_ros.paths import model_file


def intermediate_features(model_path: Path, pixels: np.ndarray, blocks: int) -> dict[str, np.ndarray]:
    """CLS features and, per encoder block, the mean patch token (outputs added to a copy of the graph)."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(model_path))
    produced = {o for node in model.graph.node for o in node.output}
    names = [f"/encoder/layers.{k}/Add_1_output_0" for k in range(blocks)]
    names = [n for n in names if n in produced]
    for name in names:
        model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    runs = [session.run(["features", *names], {"pixel_values": pixels[i:i + 32]}) for i in range(0, len(pixels), 32)]
    out = {"encoder CLS": np.concatenate([r[0] for r in runs])}
    for j in range(len(names)):
        out[f"block {j + 1} mean patch token"] = np.concatenate([r[j + 1][:, 1:].mean(1) for r in runs])
    return out


def main(argv: list[str] | None = None) -> int:
    from sklearn.linear_model import LogisticRegression

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("family", type=Path)
    parser.add_argument("--enrolled-objects", type=int, default=8)
    args = parser.parse_args(argv)
    table = load_table(args.family / "tvl.csv")
    classifier = OnnxClassifier(model_file(), require_familiarity=False)
    config = classifier.card.preprocessing
    reference = read_frame(table.samples[0].background)  # type: ignore[arg-type]
    pixels = np.concatenate([preprocess(read_frame(s.tactile), config, reference) for s in table.samples])  # type: ignore[arg-type]
    features = intermediate_features(model_file(), pixels, 6)
    with torch.no_grad():
        descriptors = np.concatenate([PressDescriptors(config)(torch.from_numpy(pixels[i:i + 32])).numpy()
                                      for i in range(0, len(pixels), 32)])
    edges = np.cumsum([0, *BLOCKS.values()])
    blocks = {name: descriptors[:, edges[i]:edges[i + 1]] for i, name in enumerate(BLOCKS)}
    y = table.label_indices()
    objects = np.array([int(s.dataset.rsplit("_", 1)[1]) for s in table.samples])
    presses = np.array([int(s.sample_id.rsplit("-p", 1)[1]) for s in table.samples])
    enrol = (objects < args.enrolled_objects) & (presses < 2)
    same, new = (objects < args.enrolled_objects) & (presses >= 2), objects >= args.enrolled_objects

    def scores(predicted: np.ndarray) -> str:
        balanced = np.mean([np.mean(predicted[new][y[new] == c] == c) for c in np.unique(y[new])])
        return f"{100 * np.mean(predicted[same] == y[same]):.1f}% / {100 * balanced:.1f}%"

    def standardised(parts: list[np.ndarray], first_weight: float = 1.0) -> np.ndarray:
        weights = [first_weight] + [1.0] * (len(parts) - 1)
        return Standardiser.fit([p[enrol] for p in parts], weights)(np.concatenate(parts, axis=1))

    def nearest(z: np.ndarray) -> np.ndarray:
        return y[enrol][((z[:, None] - z[enrol][None]) ** 2).sum(-1).argmin(1)]

    def prototypes(z: np.ndarray) -> np.ndarray:
        means = np.stack([z[enrol][y[enrol] == c].mean(0) for c in np.unique(y)])
        return ((z[:, None] - means[None]) ** 2).sum(-1).argmin(1)

    def logistic(z: np.ndarray, strength: float) -> np.ndarray:
        return LogisticRegression(C=strength, max_iter=3000).fit(z[enrol], y[enrol]).predict(z)

    all_descriptors = list(blocks.values())
    no_patterns = [b for name, b in blocks.items() if name != "pattern"]
    candidates = {
        "encoder CLS": [features["encoder CLS"]],
        "descriptors without local binary patterns": no_patterns,
        "local binary patterns alone": [blocks["pattern"]],
        "descriptors": all_descriptors,
        "encoder CLS + descriptors": [features["encoder CLS"], *all_descriptors],
        "encoder CLS at half weight + descriptors (enrol)": [features["encoder CLS"], *all_descriptors],
        **{f"{name} + descriptors": [f, *all_descriptors] for name, f in features.items() if name.startswith("block")},
    }
    sys.stdout.write("| features | 1-NN | prototypes | logistic C 10 | logistic C 100 |\n|---|---|---|---|---|\n")
    for name, parts in candidates.items():
        z = standardised(parts, 0.5 if "half weight" in name else 1.0)
        sys.stdout.write(f"| {name} | {scores(nearest(z))} | {scores(prototypes(z))} | {scores(logistic(z, 10))} | "
                         f"{scores(logistic(z, 100))} |\n")
    sys.stdout.write(f"\n(each cell: top-1 on {int(same.sum())} other presses of enrolled objects / balanced accuracy "
                     f"on {int(new.sum())} presses of objects not enrolled; {int(enrol.sum())} presses enrolled)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
