"""Times as the workflows exchange them (ISO strings in UTC, whole seconds) and the waits between polls."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def stamp(moment: datetime) -> str:
    """A sortable UTC stamp for names and S3 keys: 20261122T030000Z."""
    return f"{moment.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def as_utc(value: Any) -> datetime | None:
    """An AWS time (datetime, epoch seconds or ISO text) in UTC, to the second; naive values are taken as UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float):
        moment = datetime.fromtimestamp(value, UTC)
    else:
        moment = datetime.fromisoformat(str(value))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).replace(microsecond=0)


def backoff(polls: int, first: int, cap: int) -> int:
    """The wait before the next poll: short at first (small jobs end soon), doubling up to `cap`."""
    return int(min(cap, first * 2 ** min(polls, 10)))
