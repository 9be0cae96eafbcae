"""What the simulator, the policies and the xApp share: domain types, errors,
objectives, physics, traces and the E2 wire contract (``rrm.core.wire``)."""
