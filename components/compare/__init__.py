"""The compare component (the SFT-vs-RL study report): KFP signature in component.py, artifact
binding in runtime.py; the logic is in ``vlaa.evaluation.compare``."""
