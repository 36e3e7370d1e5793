"""robot: the arm port, the ur_rtde adapter, the simulated UR10, the palpation routine and the UR controller emulator (README, docs/hardware.md)."""
