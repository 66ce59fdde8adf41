"""Importable only through a group's pythonPath."""
