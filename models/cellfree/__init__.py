"""Cell-free downlink with fronthaul limits (EGAT paper, seed 002): baselines and the EGAT model."""
