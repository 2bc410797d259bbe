"""The error contract between handlers and the state machines.

A handler raises one of these; Lambda reports the class name as the error type, and the ASL files name those classes in
their Retry and Catch clauses and their Fail states. Every error name an ASL file uses is a class here (a test holds
them to it), so renaming a class is a breaking change to the state machines.
"""

from __future__ import annotations

from typing import ClassVar


class DdbkeeperError(Exception):
    """Base class: every failure the workflows expect carries one of the names below."""

    retryable: ClassVar[bool] = False


# --- retryable: the state machines retry these with backoff ---------------------------------------------------------


class Throttled(DdbkeeperError):
    """DynamoDB or another API throttled us beyond what the SDK's own retries absorbed."""

    retryable = True


class BackupLimitExceeded(DdbkeeperError):
    """Too many backups at once in the account (LimitExceededException from a backup operation)."""

    retryable = True


class TableLimitExceeded(DdbkeeperError):
    """Too many table operations at once in the account (LimitExceededException from CreateTable, UpdateTable,
    DeleteTable, a restore, an import or an export)."""

    retryable = True


class TransientAwsError(DdbkeeperError):
    """5xx, a table or backup busy with another operation, expired credentials: worth another try."""

    retryable = True


# --- not retryable: the execution fails (or, inside a Map, the item fails) with this name ---------------------------


class InvalidInput(DdbkeeperError):
    """The request is malformed; the message names the field and what was expected."""


class Misconfigured(DdbkeeperError):
    """The function's own configuration (its environment, set by template.yaml) is missing or malformed."""


class TableNotFound(DdbkeeperError):
    """A table (or backup, or export) named in the request, or matched by a selector, does not exist."""


class AccessDenied(DdbkeeperError):
    """IAM refused an action or a role could not be assumed."""


class TargetExists(DdbkeeperError):
    """The target of a copy or restore already exists and the mode does not allow replacing it."""


class VerificationFailed(DdbkeeperError):
    """Source and target disagree after a copy or restore, or an export is not what was planned."""


class UnsafeOperation(DdbkeeperError):
    """A destructive step was refused by a guardrail."""


class AwsError(DdbkeeperError):
    """An AWS error with no better name; not retried, its message carries the service's code."""


# --- raised by the state machines themselves (their Fail states), never by a handler ---------------------------------


class BackupFailed(DdbkeeperError):
    """A backup run ended with at least one table not backed up; the cause names each one and why."""


class BackupNotAvailable(DdbkeeperError):
    """A backup was still CREATING after the last poll, or was deleted meanwhile."""


class DrillFailed(DdbkeeperError):
    """A drill ended with at least one table not restored, not verified or not cleaned up; the cause names each."""


class ExportFailed(DdbkeeperError):
    """DynamoDB reported the export FAILED; the cause is its FailureCode and FailureMessage."""


class ExportNotDone(DdbkeeperError):
    """The export was still running after the last poll."""


class PitrNotReady(DdbkeeperError):
    """Point-in-time recovery was still not ENABLED after the last poll."""


class RestoreFailed(DdbkeeperError):
    """DynamoDB reported the restore or import FAILED; the cause is its reason."""


class RestoreNotDone(DdbkeeperError):
    """The restored table was still not ACTIVE after the last poll."""


class SettingsNotApplied(DdbkeeperError):
    """The settings a restore drops could not all be re-applied within the loop's bound."""


class TargetNotReady(DdbkeeperError):
    """The copy's target table did not become ACTIVE within the loop's bound."""


def _names(base: type[DdbkeeperError]) -> list[type[DdbkeeperError]]:
    found = []
    for cls in base.__subclasses__():
        found += [cls, *_names(cls)]
    return found


ERRORS: dict[str, type[DdbkeeperError]] = {cls.__name__: cls for cls in _names(DdbkeeperError)}
"""Every error name of the contract, in the order declared."""

RETRYABLE: tuple[str, ...] = tuple(name for name, cls in ERRORS.items() if cls.retryable)
"""The names every workflow task retries with backoff; derived from the classes, so there is one list."""
