"""GFM-RA: the interference-aware graph foundation model (seed 000)."""
