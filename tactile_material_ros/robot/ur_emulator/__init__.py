"""A UR controller emulator that the real ur_rtde library connects to (``tactile-material emulate-ur``).

One module per protocol: ``rtde`` (30004), ``script_interface`` (30003/30002), ``dashboard``
(29999); ``controller`` holds the simulated UR10 and serves ur_rtde's control-script register
protocol; ``emulator`` puts them together on one loopback address.
"""

from tactile_material_ros.robot.ur_emulator.controller import ControllerError, EmulatedController
from tactile_material_ros.robot.ur_emulator.emulator import UrEmulator

__all__ = ["ControllerError", "EmulatedController", "UrEmulator"]
