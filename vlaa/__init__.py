"""VLAA-Thinker: a Kubeflow Pipelines system for the VLAA-Thinking study."""

__version__ = "0.1.0"
