"""The ``vlaa`` command line (console script ``vlaa = vlaa.cli:app``), the top layer: it may
import the pipelines, the components and the library, and none of them imports it.

Every module imports what a command needs inside the command, so ``vlaa --help`` and a
misspelt parameter answer before KFP, torch or transformers load: ``local`` (``run``,
``compile``), ``cluster`` (``submit``, ``schedule``), ``steps`` (one step without KFP).
"""

# Importing a module registers its commands, in this order in `vlaa --help`.
from vlaa.cli import local  # noqa: F401  # isort: skip
from vlaa.cli import cluster  # noqa: F401  # isort: skip
from vlaa.cli import steps  # noqa: F401  # isort: skip
from vlaa.cli.app import app

__all__ = ["app"]
