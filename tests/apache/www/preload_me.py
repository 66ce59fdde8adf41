"""Imported when a worker starts (WSGIImportScript)."""

LOADED = True
