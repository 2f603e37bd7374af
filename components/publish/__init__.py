"""The publish component: KFP signature in component.py, artifact binding in runtime.py; the
logic is in ``vlaa.registry``."""
