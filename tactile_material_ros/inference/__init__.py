"""inference: preprocessing, the ONNX classifier, contact, familiarity and the three answers (docs/classifier.md)."""
