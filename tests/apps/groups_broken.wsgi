"""A script that can never load."""

raise RuntimeError("this script is broken on purpose")
