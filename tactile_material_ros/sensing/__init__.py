"""sensing: tactile frame sources (DIGIT, replay, simulation) and the capture loop (docs/sensor.md)."""
