"""Shared fixtures. Tests that start ROS nodes get a random ROS_DOMAIN_ID so runs do not cross-talk."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
REAL_DIGIT = SHARED / "real_digit"


@pytest.fixture
def ros_env() -> dict[str, str]:
    """Environment for a node process: isolated DDS domain, unbuffered output."""
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(random.randint(1, 100))
    env["PYTHONUNBUFFERED"] = "1"
    env["HF_HUB_OFFLINE"] = "1"
    return env


@pytest.fixture
def real_digit_dir() -> Path:
    if not REAL_DIGIT.is_dir():
        pytest.skip(f"real DIGIT frames not found at {REAL_DIGIT}")
    return REAL_DIGIT
