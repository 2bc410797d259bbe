"""The error contract between handlers and the state machines.

A handler raises one of these; Lambda reports the class name as the error type, and the ASL files name those classes in
their Retry and Catch clauses. Renaming a class is therefore a breaking change to the state machines.
"""

from __future__ import annotations


class DdbkeeperError(Exception):
    """Base class: every failure the workflows expect carries one of the names below."""

    retryable = False


# Retryable: the state machines retry these with backoff.
class Throttled(DdbkeeperError):
    """DynamoDB or another API throttled us beyond what the SDK's own retries absorbed."""

    retryable = True


class BackupLimitExceeded(DdbkeeperError):
    """Too many concurrent control-plane operations (DynamoDB LimitExceededException)."""

    retryable = True


class TransientAwsError(DdbkeeperError):
    """5xx, a table or backup busy with another operation, expired credentials: worth another try."""

    retryable = True


# Not retryable: the execution fails (or, inside a Map, the item fails) with this name.
class InvalidInput(DdbkeeperError):
    """The request is malformed; the message names the field and what was expected."""


class TableNotFound(DdbkeeperError):
    """A table named in the request (or matched by a selector) does not exist."""


class AccessDenied(DdbkeeperError):
    """IAM refused an action or a role could not be assumed."""


class TargetExists(DdbkeeperError):
    """The target of a copy or restore already exists and the mode does not allow replacing it."""


class VerificationFailed(DdbkeeperError):
    """Source and target disagree after a copy or restore."""


class UnsafeOperation(DdbkeeperError):
    """A destructive step was refused by a guardrail."""


class AwsError(DdbkeeperError):
    """An AWS error with no better name; not retried, its message carries the service's code."""


RETRYABLE: tuple[str, ...] = ("Throttled", "BackupLimitExceeded", "TransientAwsError")
