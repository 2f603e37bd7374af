"""Training helpers shared by the SFT and GRPO steps."""
