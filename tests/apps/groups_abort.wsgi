"""Kills its interpreter while loading: a C-level abort() at import."""

import os

os.abort()
