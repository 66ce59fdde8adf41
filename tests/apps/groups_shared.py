"""A module two mounts import: shared only when they share an interpreter."""

value = None
order = []
