"""Reading items back by key: BatchGetItem (consistent) until every key is answered, for every path that compares what
it wrote or restored (a copy's verification, a repair, a revert's guard, a drill's sample)."""

from __future__ import annotations

from ddbkeeper.errors import Throttled, TransientAwsError
from ddbkeeper.pacing import PartialProgress, Tuning, with_retries
from ddbkeeper.tables import TableSide
from ddbkeeper.wire import WireItem

KEYS_PER_CALL = 100  # BatchGetItem's limit


class UnprocessedKeysRemain(PartialProgress):
    """BatchGetItem handed back part of the keys; the retry loop asks again for the rest."""


def read_items(side: TableSide, keys: list[WireItem], tuning: Tuning) -> list[WireItem]:
    """The items of `keys` that exist, 100 keys a call: UnprocessedKeys and throttling retried with backoff and full
    jitter; keys still unanswered after `tuning.max_stalls` attempts without progress are `Throttled`."""
    found: list[WireItem] = []
    for start in range(0, len(keys), KEYS_PER_CALL):
        found += _read_batch(side, keys[start : start + KEYS_PER_CALL], tuning)
    return found


def _read_batch(side: TableSide, keys: list[WireItem], tuning: Tuning) -> list[WireItem]:
    pending = keys
    found: list[WireItem] = []
    stalls = 0

    def attempt() -> None:
        nonlocal pending, stalls
        try:
            items, unprocessed = side.call("BatchGetItem", lambda wire: wire.batch_get(pending))
        except (Throttled, TransientAwsError):
            stalls += 1
            raise
        found.extend(items)
        if unprocessed:
            stalls = 0 if len(unprocessed) < len(pending) else stalls + 1
            pending = unprocessed
            raise UnprocessedKeysRemain(f"{len(unprocessed)} keys unprocessed")
        pending = []

    try:
        with_retries(attempt, tuning, stalled=lambda: stalls)
    except UnprocessedKeysRemain as error:
        raise Throttled(
            f"BatchGetItem {side.name}: {len(pending)} keys still unprocessed after {tuning.max_stalls} attempts "
            "without progress; the last position stands"
        ) from error
    return found
