"""Rendering: one module per output format. Nothing here measures."""
