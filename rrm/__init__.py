"""rrm: AI-native radio resource management.

``rrm.core`` holds what every side shares (domain types, errors, objectives,
physics, traces and the E2 wire contract); ``rrm.sim`` is the RAN side (the
simulator as an E2 node), ``rrm.models`` the policies and their training,
``rrm.xapp`` the controller. Imports flow xapp -> models -> sim -> core.
See docs/architecture.md.
"""
