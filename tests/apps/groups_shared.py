"""A module two mounts import: shared only when they share an interpreter."""

import random

# One per interpreter: mounts that share an interpreter see the same id.
INTERPRETER = "%08x" % random.getrandbits(32)
value = None
order = []
