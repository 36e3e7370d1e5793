"""The repository builds as a real ROS 2 ament_python package with colcon.

A copy of the package's own files goes into a fresh workspace (``src/tactile_material_ros``)
and ``colcon build`` (colcon-common-extensions and colcon-ros from PyPI, in the venv) builds
it; the test checks the install layout that ``ros2 run`` and ``ros2 launch`` rely on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "tactile_material_ros"
PACKAGE_FILES = ("package.xml", "setup.py", "setup.cfg", "resource", "launch", "config", "models", PACKAGE)
EXECUTABLES = ("digit_camera_node", "ur_palpation_node", "material_classifier_node", "bringup", "tactile-material")


def test_colcon_build_installs_the_package_where_ros2_looks(tmp_path: Path) -> None:
    venv_bin = Path(sys.executable).parent
    colcon = shutil.which("colcon", path=str(venv_bin)) or shutil.which("colcon")
    if colcon is None:
        pytest.skip("colcon is not installed (pip install colcon-common-extensions colcon-ros)")
    src = tmp_path / "src" / PACKAGE
    src.mkdir(parents=True)
    for name in PACKAGE_FILES:
        origin = REPO / name
        if origin.is_dir():
            shutil.copytree(origin, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif origin.is_file():
            shutil.copy2(origin, src / name)
    env = dict(os.environ, PATH=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run([colcon, "build", "--event-handlers", "console_direct-"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr

    install = tmp_path / "install" / PACKAGE
    share = install / "share" / PACKAGE
    assert (share / "package.xml").is_file()
    assert (install / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE).is_file()
    for folder in ("launch", "config", "models"):
        assert (share / folder).is_dir(), folder
    installed_config = {p.name for p in (share / "config").iterdir()}
    assert {p.name for p in (REPO / "config").glob("*.yaml")} <= installed_config
    assert {p.name for p in (REPO / "launch").glob("*.launch.py")} == {p.name for p in (share / "launch").iterdir()}
    # models/ holds only what is committed: the bundled model lands here when it exists
    assert {p.name for p in (REPO / "models").glob("*.onnx")} <= {p.name for p in (share / "models").iterdir()}
    torch_weights = {p.name for p in (REPO / "models" / "tactile_vit_torch").glob("*")}
    assert torch_weights <= {p.name for p in (share / "models" / "tactile_vit_torch").glob("*")}
    for exe in EXECUTABLES:
        script = install / "lib" / PACKAGE / exe
        assert script.is_file() and os.access(script, os.X_OK), exe
    # the installed copy runs on its own: code from install/, data from the share directory via the ament index
    site = next((install / "lib").glob("python3*/site-packages"))
    run_env = dict(env, PYTHONPATH=str(site), AMENT_PREFIX_PATH=str(install))
    run_env.pop("TACTILE_MATERIAL_SHARE", None)
    where = subprocess.run([sys.executable, "-c", "import tactile_material_ros, tactile_material_ros.paths as p; "
                            "print(tactile_material_ros.__file__); print(p.share_dir())"],
                           env=run_env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    module_file, share_dir = where.stdout.split()
    assert Path(module_file).is_relative_to(site) and Path(share_dir) == share, where.stdout + where.stderr
    frame = tmp_path / "frame.png"
    rendered = subprocess.run([str(install / "lib" / PACKAGE / "tactile-material"), "render", "--material", "wood",
                               "--force", "24", "--out", str(frame)], env=run_env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)
    assert rendered.returncode == 0 and frame.is_file(), rendered.stdout + rendered.stderr


OPTIONAL_ROS_PACKAGES = {"vision_msgs"}   # used where installed (nodes/vision_results.py), never required


def test_package_xml_declares_every_ros_package_the_code_imports() -> None:
    import ast
    import xml.etree.ElementTree as ElementTree

    declared = {e.text for e in ElementTree.parse(REPO / "package.xml").getroot() if e.tag.endswith("depend")}
    imported: set[str] = set()
    for path in [*(REPO / PACKAGE).rglob("*.py"), *(REPO / "launch").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
    ros = {name for name in imported if name in {"rclpy", "launch", "launch_ros", "rcl_interfaces",
                                                 "builtin_interfaces", "ament_index_python"}
           or name.endswith(("_msgs", "_srvs"))}
    assert ros - OPTIONAL_ROS_PACKAGES <= declared, sorted(ros - OPTIONAL_ROS_PACKAGES - declared)
    assert {"rcl_interfaces", "builtin_interfaces", "ament_index_python", "tf2_ros"} <= declared
