"""nodes (see DESIGN.md)."""
