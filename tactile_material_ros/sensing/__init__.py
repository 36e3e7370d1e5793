"""sensing (see DESIGN.md)."""
