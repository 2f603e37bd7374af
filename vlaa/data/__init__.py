"""Data sources, the offline teacher and the deterministic data-engine rules."""
