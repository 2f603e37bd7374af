"""The publish errors: one family under ``PublishError`` (a ``vlaa.errors.UserError``)."""

from __future__ import annotations

from vlaa.errors import UserError


class PublishError(UserError, RuntimeError):
    """Publishing was refused or failed; the message says why."""


class ModelFolderError(PublishError, ValueError):
    """The model folder lacks what a usable model needs."""


class VersionExistsError(PublishError):
    """The target version already holds files; versions are never overwritten."""


class PublishStoreError(PublishError):
    """The model store failed (unreachable, credentials, bucket); nothing became visible."""
