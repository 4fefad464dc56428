"""Reusable widgets of the desktop app (forms, tables, trees, message bar, status)."""
