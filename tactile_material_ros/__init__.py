"""tactile_material_ros: recognise materials by touch with a UR10, a DIGIT and a distilled ViT."""

__version__ = "0.1.0"
