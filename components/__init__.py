"""KFP components, one folder each; installed as ``vlaa.components``."""
