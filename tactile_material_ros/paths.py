"""Where the package's shared files (config/, models/, launch/) live.

Installed by colcon, they are in ``share/tactile_material_ros`` and found through the
ament index; installed with ``pip install -e .`` into a venv, they are the source tree.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = "tactile_material_ros"
_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def share_dir() -> Path:
    """The package's share directory (or the source tree when running from a checkout)."""
    override = os.environ.get("TACTILE_MATERIAL_SHARE")
    if override:
        return Path(override)
    if (_SOURCE_ROOT / "package.xml").is_file() and (_SOURCE_ROOT / "config").is_dir():
        return _SOURCE_ROOT
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE))
    except (ImportError, LookupError, OSError) as exc:  # not found, or no AMENT_PREFIX_PATH
        raise FileNotFoundError(
            f"cannot find the {PACKAGE} share directory: not in a source checkout and not in the "
            "ament index. Source your workspace (`source install/setup.bash`) or set "
            "TACTILE_MATERIAL_SHARE to the folder holding config/ and models/."
        ) from exc


def config_file(name: str) -> Path:
    return share_dir() / "config" / name


def model_file(name: str = "tactile_vit.onnx") -> Path:
    return share_dir() / "models" / name
