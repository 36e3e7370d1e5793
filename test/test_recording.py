"""Teach by touch without ROS: cycles into MCAP bags and back, bags into a TVL CSV, replay, live model reload."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from model_fixture import make_test_model

from tactile_material_ros import graph
from tactile_material_ros.inference.live_classifier import ClassifierConfig, LiveClassifier, StampedFrame
from tactile_material_ros.inference.model_card import ModelIntegrityError
from tactile_material_ros.learning.datasets import DatasetError, load_table
from tactile_material_ros.recording.bag_dataset import BagDatasetConfig, build_dataset
from tactile_material_ros.recording.cycle_recorder import CycleRecorder, RecorderConfig
from tactile_material_ros.recording.palpation_bag import PalpationBagWriter, RecordedCycle, read_cycles
from tactile_material_ros.sensing.replay_source import ReplaySource
from tactile_material_ros.sim.scene import load_scene

W, H = 240, 320
RUBBER_TOP = (0.65, -0.30, 0.06, 1.0, 0.0, 0.0, 0.0)   # the four-ball scene's rubber ball, tool pointing down


def _image(value: int, shape: tuple[int, int] = (H, W)) -> np.ndarray:
    return np.full((*shape, 3), value, dtype=np.uint8)


def _cycle(recorder: CycleRecorder, t0: float, pose: tuple[float, ...] = RUBBER_TOP, frame_shape: tuple[int, int] = (H, W),
           frames: bool = True) -> RecordedCycle:
    """approaching, 3 reference frames, two presses with frames every 30 ms, done; stamps from ``t0``."""
    recorder.on_state("approaching", t0)
    for i in range(3):
        recorder.on_frame(t0 + 0.01 * i, _image(100 + i, frame_shape))
    recorder.on_pose(t0 + 0.5, pose)  # type: ignore[arg-type]
    for press in range(2):
        start = t0 + 1.0 + 2.0 * press
        recorder.on_state("holding", start)
        if frames:
            recorder.on_frame(start - 0.02, _image(1, frame_shape))  # before the press: not in its window
            recorder.on_frame(start + 0.01, _image(200 + press, frame_shape))  # arrives before the press message
        recorder.on_press(start, (0.0, 0.0, 24.0, 0.0, 0.0, 0.0))
        if frames:
            for k in range(1, 6):
                recorder.on_frame(start + 0.03 * k, _image(210 + 10 * press + k, frame_shape))
        recorder.on_state("retracting", start + 0.2)
        if frames:
            recorder.on_frame(start + 0.25, _image(2, frame_shape))   # after retracting: not in the window
    cycle = recorder.on_state("done", t0 + 5.0)
    assert cycle is not None
    return cycle


def _bag(path: Path, cycles: list[RecordedCycle]) -> Path:
    with PalpationBagWriter(path) as writer:
        for cycle in cycles:
            writer.write_cycle(cycle)
    return path


def test_a_recorded_cycle_reads_back_from_its_mcap_bag_with_frames_reference_target_and_label(tmp_path: Path) -> None:
    recorder = CycleRecorder(RecorderConfig(reference_frames=3, sensor_serial="D20001"), load_scene())
    first = _cycle(recorder, 100.0)
    recorder.label = "red_ball"           # the user's label wins over the scene's material
    second = _cycle(recorder, 200.0)
    bag = _bag(tmp_path / "bag", [first, second])
    assert (bag / "metadata.yaml").is_file() and list(bag.glob("*.mcap"))

    back = read_cycles(bag)
    assert [c.cycle for c in back] == [1, 2]
    assert (back[0].target, back[0].material, back[0].label, back[0].label_source) == (
        "rubber_ball", "rubber", "rubber", "scene")
    assert (back[1].label, back[1].label_source, back[1].material) == ("red_ball", "user", "rubber")
    for written, read in zip([first, second], back, strict=True):
        assert read.sensor_serial == "D20001" and read.outcome == "done"
        assert np.allclose(read.windows, written.windows) and len(read.windows) == 2
        # each window keeps the frame that came before its press message, and nothing outside it
        values = [[int(f.image[0, 0, 0]) for f in group] for group in read.frames_by_press()]
        assert values == [[200, 211, 212, 213, 214, 215], [201, 221, 222, 223, 224, 225]]
        assert read.reference is not None and int(read.reference.image[0, 0, 0]) == 101   # median of 100..102
        assert read.reference.image.shape == (H, W, 3)
        assert [s for _, s in read.states] == ["approaching", "holding", "retracting", "holding", "retracting", "done"]
        assert len(read.presses) == 2 and read.presses[0][1][2] == pytest.approx(24.0)
        assert read.poses[0][1][:3] == pytest.approx(RUBBER_TOP[:3])


def test_dataset_from_bags_writes_the_tvl_csv_with_relative_paths_captions_and_the_sensor_serial(
        tmp_path: Path) -> None:
    recorder = CycleRecorder(RecorderConfig(reference_frames=3, sensor_serial="D20001"), load_scene())
    cycles = [_cycle(recorder, 100.0)]
    recorder.label = "my_sponge"
    cycles.append(_cycle(recorder, 200.0))
    bag = _bag(tmp_path / "session", cycles)
    csv_path = build_dataset(BagDatasetConfig((str(bag),), str(tmp_path / "data"), frames_per_press=2))
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["sample_id", "dataset", "tactile", "vision", "caption", "class", "background"]
    assert len(rows) == 8   # 2 cycles x 2 presses x 2 frames
    assert {r["class"] for r in rows} == {"rubber", "my_sponge"}
    assert all(r["caption"] for r in rows if r["class"] == "rubber")            # a known material: described
    assert not any(r["caption"] for r in rows if r["class"] == "my_sponge")     # a name of the user's: no caption
    assert all(not Path(r["tactile"]).is_absolute() and (csv_path.parent / r["tactile"]).is_file() for r in rows)
    meta = json.loads((csv_path.parent / "dataset.json").read_text())
    assert meta["sensor_serial"] == "D20001" and meta["presses"] == {"my_sponge": 2, "rubber": 2}
    table = load_table(csv_path)   # what every learning command reads
    assert len(table.samples) == 8 and all(s.background is not None for s in table.samples)


def test_dataset_names_a_bag_without_frames_frames_of_mixed_sizes_and_a_cycle_without_reference(
        tmp_path: Path) -> None:
    scene = load_scene()
    no_frames = _bag(tmp_path / "no_frames", [_cycle(CycleRecorder(RecorderConfig(reference_frames=3), scene), 1.0,
                                                     frames=False)])
    with pytest.raises(DatasetError, match="no_frames holds no frames in any completed press"):
        build_dataset(BagDatasetConfig((str(no_frames),), str(tmp_path / "d1")))

    small = _bag(tmp_path / "small", [_cycle(CycleRecorder(RecorderConfig(reference_frames=3), scene), 1.0,
                                             frame_shape=(240, 320))])
    full = _bag(tmp_path / "full", [_cycle(CycleRecorder(RecorderConfig(reference_frames=3), scene), 1.0)])
    with pytest.raises(DatasetError, match=r"frames of different sizes \(240x320 px first in full.*320x240 px"):
        build_dataset(BagDatasetConfig((str(full), str(small)), str(tmp_path / "d2")))

    cycle = _cycle(CycleRecorder(RecorderConfig(reference_frames=3), scene), 1.0)
    cycle.reference = None
    no_reference = _bag(tmp_path / "no_reference", [cycle])
    with pytest.raises(DatasetError, match="cycle 1 has no no-contact reference frame"):
        build_dataset(BagDatasetConfig((str(no_reference),), str(tmp_path / "d3")))

    nowhere = (0.0, 0.9, 0.06, 1.0, 0.0, 0.0, 0.0)   # pressed where the scene has no object: no label
    unlabelled = _bag(tmp_path / "unlabelled", [_cycle(CycleRecorder(RecorderConfig(reference_frames=3), scene),
                                                       1.0, pose=nowhere)])
    with pytest.raises(DatasetError, match="has no label: give one with --label"):
        build_dataset(BagDatasetConfig((str(unlabelled),), str(tmp_path / "d4")))
    assert build_dataset(BagDatasetConfig((str(unlabelled),), str(tmp_path / "d5"), label="foam")).is_file()


def test_a_bag_replays_its_reference_then_its_hold_window_frames(tmp_path: Path) -> None:
    recorder = CycleRecorder(RecorderConfig(reference_frames=3), load_scene())
    bag = _bag(tmp_path / "bag", [_cycle(recorder, 10.0)])
    for path in (bag, next(bag.glob("*.mcap"))):     # the bag folder, or its .mcap file alone
        source = ReplaySource(path, rate_hz=1000.0)
        source.open()
        values = [int(source.read()[0][0, 0, 0]) for _ in range(14)]
        source.close()
        assert source.info.width == W and source.info.height == H
        assert values == [101, 200, 211, 212, 213, 214, 215, 201, 221, 222, 223, 224, 225, 101]   # and loops


def test_reload_swaps_to_a_verified_model_and_keeps_the_old_one_on_a_bad_sha256(tmp_path: Path) -> None:
    old_path = make_test_model(tmp_path / "old", seed=0)
    new_path = make_test_model(tmp_path / "new", seed=1)
    tampered = tmp_path / "tampered" / "model.onnx"
    tampered.parent.mkdir()
    tampered.write_bytes(new_path.read_bytes()[:-1])
    tampered.with_suffix(".json").write_text(new_path.with_suffix(".json").read_text())
    live = LiveClassifier.from_config(ClassifierConfig(model_path=str(old_path), reference_frames=1))
    old_sha = live.model.sha256
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    live.on_frame(StampedFrame(0.0, frame))           # the start-up reference
    live.on_state("approaching", 0.1)
    live.on_frame(StampedFrame(0.2, frame))           # the cycle-start reference

    with pytest.raises(ModelIntegrityError, match="does not match its card"):
        live.reload_model(str(tampered))
    with pytest.raises(ModelIntegrityError, match="not found"):
        live.reload_model(str(tmp_path / "missing.onnx"))
    narrow = tmp_path / "narrow" / "model.onnx"          # a card naming fewer classes than the model has logits
    narrow.parent.mkdir()
    narrow.write_bytes(new_path.read_bytes())
    card = json.loads(new_path.with_suffix(".json").read_text())
    card["class_names"] = card["class_names"][:-1]
    narrow.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelIntegrityError, match="gives 19 logit"):
        live.reload_model(str(narrow))
    assert live.model.sha256 == old_sha and live.config.model_path == str(old_path)

    names = live.reload_model(str(new_path))
    assert live.model.sha256 != old_sha and live.config.model_path == str(new_path)
    assert names == live.class_names and live.recognizer.model is live.model
    assert live.reference.image is not None           # the sensor's reference survives the swap


def test_record_true_adds_the_recorder_node_with_its_bag_dir() -> None:
    names = [spec.name for spec in graph.build_graph({})]
    assert "palpation_recorder_node" not in names
    (recorder,) = [s for s in graph.build_graph({"record": "true", "bag_dir": "/tmp/bags"})
                   if s.name == "palpation_recorder_node"]
    assert recorder.parameters["bag_dir"] == "/tmp/bags"
    with pytest.raises(graph.GraphError, match="record"):
        graph.build_graph({"record": "perhaps"})


def test_record_on_the_simulated_cell_then_dataset_from_the_command_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from tactile_material_ros.cli.main import main

    bag = tmp_path / "bag"
    assert main(["record", "--arm", "sim", "--targets", "wood_ball", "--cycles", "1",
                 "--label", "oak", "--out", str(bag)]) == 0
    (cycle,) = read_cycles(bag)
    assert (cycle.target, cycle.material, cycle.label, cycle.outcome) == ("wood_ball", "wood", "oak", "done")
    groups = cycle.frames_by_press()
    # two presses, each with the frames of its 0.6 s hold at 30 fps, and a reference unlike them
    assert len(groups) == 2 and all(15 <= len(g) <= 20 for g in groups), [len(g) for g in groups]
    assert cycle.reference is not None and len(cycle.wrenches) > 100 and len(cycle.poses) > 100
    held = np.abs(groups[0][len(groups[0]) // 2].image.astype(int) - cycle.reference.image.astype(int)).mean()
    assert held > 3.0   # the hold window's frame shows the press

    assert main(["dataset", str(bag), "--out", str(tmp_path / "data")]) == 0
    assert len(load_table(tmp_path / "data" / "tvl.csv").samples) == 2
    assert main(["dataset", str(tmp_path / "nothing"), "--out", str(tmp_path / "d2")]) == 2
    assert "not found" in caplog.text
