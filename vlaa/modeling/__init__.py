"""Model factory and loading helpers."""
