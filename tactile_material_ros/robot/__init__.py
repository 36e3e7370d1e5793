"""robot (see DESIGN.md)."""
