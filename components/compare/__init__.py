"""The compare component: the SFT-vs-RL study report."""
