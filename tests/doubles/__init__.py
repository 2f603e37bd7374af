"""Test doubles: real HTTP servers on loopback speaking the protocol of the external service
they stand in for (OpenAI chat completions, the KFP API, the Kubernetes API, S3), so the
production clients (``aiohttp``, ``kfp.Client``, ``kubernetes``, ``minio``) run unmodified.

Imported by basename (``from doubles.openai_api import ...``): ``tests/`` is on ``sys.path``
because pytest's rootdir conftest lives there and ``tests/`` has no ``__init__.py``.
"""
