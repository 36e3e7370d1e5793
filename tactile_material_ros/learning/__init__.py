"""learning: data sets, teachers, students, distillation, fine-tuning, evaluation, export, explanations (docs/training.md)."""
