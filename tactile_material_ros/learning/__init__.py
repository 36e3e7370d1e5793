"""learning (see DESIGN.md)."""
