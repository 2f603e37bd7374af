"""One-line errors of base-model resolution (reported without a traceback, see vlaa.errors).

They keep ``ValueError`` as a base so pydantic turns one raised during run-parameter
validation into a ``ValidationError`` naming the field.
"""

from __future__ import annotations

from vlaa.errors import UserError


class ModelSourceError(UserError, ValueError):
    """A base-model source that cannot be used: bad form, unknown scheme, bad settings."""


class UnknownSchemeError(ModelSourceError):
    """A ``scheme://`` this resolver does not know."""


class ModelNotFoundError(ModelSourceError):
    """The repository, revision, prefix, version or alias named does not exist (or is not
    in the offline cache)."""


class CredentialsRefusedError(ModelSourceError):
    """The source refused the credentials (or needs some that are not set)."""


class ChecksumMismatchError(ModelSourceError):
    """A fetched file does not match the checksum its source records."""
