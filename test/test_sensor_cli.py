"""`tactile-material render` and `tactile-material contact-sheet`, through the CLI entry point."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tactile_material_ros.cli.main import main
from tactile_material_ros.sim.materials import default_library


def test_render_writes_one_frame_and_refuses_an_unknown_material(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "wood.png"
    assert main(["render", "--material", "wood", "--force", "24", "--rotation", "90", "--out", str(out)]) == 0
    frame = cv2.imread(str(out))
    assert frame.shape == (320, 240, 3)
    flat = tmp_path / "towel_vga.png"
    assert main(["render", "--material", "towel", "--force", "10", "--shape", "flat", "--resolution", "VGA",
                 "--out", str(flat)]) == 0
    assert cv2.imread(str(flat)).shape == (640, 480, 3)
    assert main(["render", "--material", "woody", "--force", "24", "--out", str(tmp_path / "x.png")]) == 2
    assert "unknown material 'woody'" in caplog.text and "wood" in caplog.text
    assert main(["render", "--material", "wood", "--force", "-3", "--out", str(tmp_path / "y.png")]) == 2


def test_contact_sheet_shows_every_material_twice(tmp_path: Path) -> None:
    out = tmp_path / "sheet.png"
    assert main(["contact-sheet", "--scale", "0.25", "--out", str(out)]) == 0
    sheet = cv2.imread(str(out))
    pairs = len(default_library().names)
    rows = -(-pairs // 5)
    # 5 pairs per row of two 240 x 320 frames, a label strip above each row, scaled by 0.25
    assert sheet.shape[1] == pytest.approx(0.25 * 5 * (2 * 240 + 2 + 6) + 0.25 * 6, abs=2)
    assert sheet.shape[0] == pytest.approx(0.25 * (rows * (320 + 26) + 6), abs=2)
    assert np.unique(sheet.reshape(-1, 3), axis=0).shape[0] > 1000  # pictures, not an empty canvas
