"""sim: the material library, the simulated DIGIT and its sensor variation, the scene (docs/sensor.md)."""
