"""Data sets: TVL CSV rows (malformed ones reported and skipped), unreadable images, folder-per-class,
the stratified split, and synthetic captions that follow the library's term statistics."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from learning_fixtures import PATTERN_CLASSES, write_pattern_dataset

from tactile_material_ros.inference.preprocessing import PreprocessConfig
from tactile_material_ros.learning.datasets import (
    DatasetError,
    load_images,
    load_table,
    read_class_folders,
    read_tvl_csv,
    stratified_split,
)
from tactile_material_ros.sim.descriptions import sample_caption
from tactile_material_ros.sim.materials import default_library


def test_malformed_rows_are_reported_with_their_line_and_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    csv_path = write_pattern_dataset(tmp_path, per_class=2, sensors=1)
    lines = csv_path.read_text().splitlines()
    lines.insert(2, "broken,row,with,too,few")               # line 3: wrong field count
    lines.insert(4, "x1,pattern,,,smooth,stripes_h,")          # line 5: empty tactile path
    lines.append("x2,pattern,tactile/dots/dots_0.png,,rough,granite,background/sensor_0.png")  # unknown class
    csv_path.write_text("\n".join(lines) + "\n")
    (tmp_path / "classes.txt").write_text("\n".join(PATTERN_CLASSES) + "\n")
    with caplog.at_level(logging.WARNING):
        table = read_tvl_csv(csv_path)
    assert len(table.samples) == 6
    assert [p.line for p in table.problems] == [3, 5, 10]
    assert "5 fields" in table.problems[0].reason and "tactile" in table.problems[1].reason
    assert "granite" in table.problems[2].reason
    assert "tvl.csv:3" in caplog.text and "3 row(s)/image(s) skipped" in caplog.text
    assert table.class_names == PATTERN_CLASSES and table.has_captions


def test_a_missing_column_stops_with_the_expected_header(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("sample_id,tactile,class\n1,a.png,wood\n")
    with pytest.raises(DatasetError, match="sample_id,dataset,tactile,vision,caption,class"):
        read_tvl_csv(tmp_path / "bad.csv")


def test_unreadable_images_are_counted_and_skipped(tmp_path: Path) -> None:
    write_pattern_dataset(tmp_path, per_class=3, sensors=1)
    (tmp_path / "tactile" / "dots" / "dots_1.png").write_bytes(b"not a png")
    (tmp_path / "tactile" / "stripes_v" / "stripes_v_2.png").unlink()
    table = load_table(tmp_path)
    images = load_images(table, PreprocessConfig(image_size=32))
    assert images.pixels.shape == (7, 3, 32, 32)
    assert len(images.problems) == 2 and all("unreadable image" in p.reason for p in images.problems)
    assert {p.line for p in images.problems} == {table.samples[i].line for i in range(9)} - {
        table.samples[i].line for i in images.rows}
    # every remaining label still points at its own row
    assert [table.samples[i].label for i in images.rows] == [table.class_names[i] for i in images.labels.tolist()]


def test_folder_per_class_has_no_captions_and_uses_the_shared_reference(tmp_path: Path) -> None:
    write_pattern_dataset(tmp_path / "src", per_class=2, sensors=1)
    root = tmp_path / "folders"
    for name in PATTERN_CLASSES:
        (root / name).mkdir(parents=True)
        for image in (tmp_path / "src" / "tactile" / name).iterdir():
            (root / name / image.name).write_bytes(image.read_bytes())
    (root / "no_contact.png").write_bytes((tmp_path / "src" / "background" / "sensor_0.png").read_bytes())
    table = read_class_folders(root)
    assert len(table.samples) == 6 and not table.has_captions
    assert table.class_names == tuple(sorted(PATTERN_CLASSES))
    images = load_images(table, PreprocessConfig(image_size=32))
    assert len(images.rows) == 6
    # background subtraction removed the sensor gradient: what is left is the pattern around 0
    assert abs(float(images.pixels.float().mean())) < 0.1


def test_stratified_split_holds_out_every_class() -> None:
    labels = np.repeat(np.arange(4), 10)
    keep, held = stratified_split(labels, 0.2, seed=3)
    assert len(set(keep) & set(held)) == 0 and len(keep) + len(held) == 40
    assert Counter(labels[held]) == {0: 2, 1: 2, 2: 2, 3: 2}
    assert np.array_equal(stratified_split(labels, 0.2, seed=3)[1], held)


def test_synthetic_captions_follow_the_library_term_statistics() -> None:
    material = default_library().get("wood")
    rng = np.random.default_rng(0)
    captions = [sample_caption(material, rng) for _ in range(3000)]
    lengths = Counter(len(c.split(", ")) for c in captions)
    total = sum(material.terms_per_caption.values())
    for n, share in material.terms_per_caption.items():
        assert abs(lengths[n] / 3000 - share / total) < 0.03, (n, lengths[n])
    terms = Counter(t for c in captions for t in c.split(", "))
    ranked = [t.term for t in sorted(material.terms, key=lambda t: -t.freq)]
    assert terms.most_common(1)[0][0] == ranked[0]
    assert all(len(set(c.split(", "))) == len(c.split(", ")) for c in captions)  # no repeated term


def test_synth_plan_varies_shape_force_angle_and_sensor_and_new_seeds_are_unseen() -> None:
    import math

    from tactile_material_ros.learning.synth import SynthConfig, plan_presses, sensor_params
    from tactile_material_ros.sim.contact_model import Cylinder, Flat, Sphere

    config = SynthConfig(per_class=200, seed=0, materials=("wood", "rubber"), sensors=6)
    presses = plan_presses(config)
    assert len(presses) == 400 and [p.material for p in presses[:1]] == ["rubber"]  # library order
    kinds = Counter(type(p.shape) for p in presses)
    assert set(kinds) == {Sphere, Cylinder, Flat} and min(kinds.values()) > 40
    assert len({p.shape.radius_m for p in presses if isinstance(p.shape, Sphere)}) >= 4
    forces = np.array([p.force_n for p in presses])
    assert abs(forces.mean() - 24.0) < 0.6 and 2.0 < forces.std() < 4.0
    angles = np.array([p.tool_angle_rad for p in presses])
    assert 0.12 < np.mean(angles == 0.0) < 0.3 and 0.12 < np.mean(angles == math.pi / 2) < 0.3
    assert angles.min() >= 0.0 and angles.max() <= math.pi and len(np.unique(angles)) > 200
    assert max(abs(v) for p in presses for v in p.offset_m) <= 0.003
    assert len({p.sensor for p in presses}) == 6
    assert plan_presses(config) == presses  # deterministic in the seed
    unseen = SynthConfig(per_class=200, seed=1, materials=("wood", "rubber"), sensors=6)
    seen_backgrounds = {sensor_params(config, k)[0] for k in range(6)}
    assert not seen_backgrounds & {sensor_params(unseen, k)[0] for k in range(6)}
    assert {p.sample_id for p in plan_presses(unseen)}.isdisjoint({p.sample_id for p in presses})
