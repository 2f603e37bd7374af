"""The base_model step: plain logic in step.py, KFP wrapper in component.py."""
