"""``python -m vlaa.cli``: the same as the ``vlaa`` console script."""

from vlaa.cli import app

app()
