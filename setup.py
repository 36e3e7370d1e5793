"""ament_python package: builds with colcon on a ROS 2 install and with pip into a venv."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "tactile_material_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.rviz")),
        (f"share/{PACKAGE}/models", glob("models/*.onnx") + glob("models/*.json")),
        # the bundled model's PyTorch weights, for Grad-CAM / DFF explanations (tactile-material explain)
        (f"share/{PACKAGE}/models/tactile_vit_torch", glob("models/tactile_vit_torch/*")),
    ],
    install_requires=["setuptools", "numpy", "pyyaml"],
    zip_safe=True,
    maintainer="tactile_material_ros maintainers",
    maintainer_email="maintainers@tactile-material.invalid",
    description="Material recognition by touch: UR10 palpation, DIGIT sensing, distilled ViT classifier.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            f"digit_camera_node = {PACKAGE}.nodes.digit_camera_node:main",
            f"ur_palpation_node = {PACKAGE}.nodes.ur_palpation_node:main",
            f"material_classifier_node = {PACKAGE}.nodes.material_classifier_node:main",
            f"palpation_recorder_node = {PACKAGE}.nodes.palpation_recorder_node:main",
            f"bringup = {PACKAGE}.bringup:main",
            f"tactile-material = {PACKAGE}.cli.main:main",
        ],
    },
)
