"""The prepare step: validate every pipeline parameter, then resolve the base model."""
