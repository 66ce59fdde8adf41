"""Imported at worker start by the group's preload list."""

LOADED = "preloaded"
print("groups_preloaded imported")
