"""Contact detection: on a real DIGIT against its own no-contact frame, and its hysteresis."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tactile_material_ros.cli.main import main
from tactile_material_ros.inference.contact_detection import (
    ContactConfig,
    ContactDetector,
    ContactEvent,
    contact_score,
)

DEFAULT = ContactConfig()


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, path
    return image


def _noisy(image: np.ndarray, rng: np.random.Generator, sigma: float = 7.0, shift: float = 0.0) -> np.ndarray:
    return np.clip(image + rng.normal(shift, sigma, image.shape), 0, 255).astype(np.uint8)


def test_every_real_press_is_contact_and_the_noisy_background_is_not(real_digit_dir: Path) -> None:
    sensor = real_digit_dir / "sensor_a"
    background = _read(sensor / "background.png")
    presses = sorted(sensor.glob("contact_*.png"))
    assert len(presses) >= 30
    scores = {p.name: contact_score(_read(p), background) for p in presses}
    missed = {name: round(s, 3) for name, s in scores.items() if s < DEFAULT.enter_score}
    assert not missed, f"presses scored below the enter threshold {DEFAULT.enter_score}: {missed}"
    rng = np.random.default_rng(7)
    for shift in (0.0, 10.0, -10.0):  # sensor noise, and a global LED / exposure drift
        score = contact_score(_noisy(background, rng, 7.0, shift), background)
        assert score < DEFAULT.exit_score / 2, (shift, score)


def test_the_score_carries_to_another_real_sensor(real_digit_dir: Path) -> None:
    # another DIGIT, whose sphere presses sit at different places: their per-pixel median is
    # that sensor's no-contact frame
    frames = [_read(p) for p in sorted(real_digit_dir.glob("contact_sphere_*.png"))]
    assert len(frames) >= 5
    background = np.median(np.stack(frames), axis=0).astype(np.uint8)
    assert min(contact_score(f, background) for f in frames) >= DEFAULT.enter_score
    assert contact_score(_noisy(background, np.random.default_rng(3)), background) < DEFAULT.exit_score / 2


def test_one_touch_is_one_contact_even_when_the_score_wavers() -> None:
    detector = ContactDetector(ContactConfig(enter_score=0.10, exit_score=0.06, min_frames=3))
    touch = [0.02, 0.12, 0.05, 0.11, 0.13, 0.15, 0.08, 0.07, 0.09, 0.05, 0.07, 0.04, 0.03, 0.02]
    events = [detector.update(s) for s in touch * 3]
    assert events.count(ContactEvent.STARTED) == 3
    assert events.count(ContactEvent.ENDED) == 3
    # a single frame over the threshold is noise, not a touch
    assert all(detector.update(s) is ContactEvent.NONE for s in [0.02, 0.5, 0.02, 0.02, 0.5, 0.01])


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"enter_score": 0.0}, "contact_enter_score"),
    ({"enter_score": 0.1, "exit_score": 0.2}, "contact_exit_score"),
    ({"min_frames": 0}, "contact_min_frames"),
])
def test_bad_contact_settings_are_refused_by_name(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ContactConfig(**kwargs)


def test_the_contact_command_prints_one_json_line_per_image(real_digit_dir: Path, capsys: pytest.CaptureFixture,
                                                            tmp_path: Path) -> None:
    sensor = real_digit_dir / "sensor_a"
    background = _read(sensor / "background.png")
    noisy = tmp_path / "noisy_background.png"
    cv2.imwrite(str(noisy), _noisy(background, np.random.default_rng(0)))
    images = [str(sensor / "contact_05.png"), str(noisy)]
    assert main(["contact", *images, "--reference", str(sensor / "background.png"), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["image"] for line in lines] == images
    assert [line["contact"] for line in lines] == [True, False]
    assert lines[0]["score"] > DEFAULT.enter_score > lines[1]["score"]


def test_without_the_training_requirements_the_command_line_keeps_its_other_commands(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # requirements.txt (runtime) has no torch: the learning commands go, render / palpate / classify stay
    import sys

    from tactile_material_ros.cli.main import build_parser

    for name in [m for m in sys.modules if m.startswith("tactile_material_ros.learning") or m == "torch"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ModuleNotFoundError
    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert {"render", "palpate", "contact"} <= commands and "distill" not in commands
    assert "learning commands (torch is not installed" in parser.epilog and "requirements-train.txt" in parser.epilog
