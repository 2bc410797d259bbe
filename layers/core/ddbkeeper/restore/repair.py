"""Repairing chosen items of a live table from a scratch table restored from a backup or a point in time.

The items are chosen in the scratch table (by key, by partition key, or by a filter expression), compared with what
the live table holds for the same keys, and written back by the conflict policy: `overwrite` puts every chosen item
that differs (the copy engine's batch writer: wire form, UnprocessedItems re-sent, throttling retried), `missing_only`
puts only items the live table lacks, each with a condition on its key (attribute_not_exists), so an item written
meanwhile is left as it is. A dry run compares and counts, and writes nothing. An item identical in both is never
written; an item the scratch table lacks is never deleted from the live table (it is counted as not in the source).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from ddbkeeper.aws import domain_error, error_code, translate_errors
from ddbkeeper.pacing import AdaptiveLimiter, Tuning, with_retries
from ddbkeeper.reads import KEYS_PER_CALL, read_items
from ddbkeeper.restore.models import RepairProgress, RepairSelection
from ddbkeeper.tables import TableSide
from ddbkeeper.wire import WireItem, canonical, key_id, to_wire
from ddbkeeper.writes import BatchWriter

KEYS_PER_TURN = KEYS_PER_CALL  # the keys of a key list read at a time (a test turns it down)
logger = Logger(child=True)
SAMPLE = 5  # items of each kind the report names


@dataclass
class RepairTuning(Tuning):
    reserve_seconds: float = 30.0  # an invocation starts no page with less Lambda time than this left


def to_client(value: Any, kind: str | None = None) -> Any:
    """A wire-form value (binary as base64 text) as the low-level client sends it (binary as bytes)."""
    if isinstance(value, dict):
        return {name: to_client(inner, name) for name, inner in value.items()}
    if isinstance(value, list):
        return [to_client(inner, "B" if kind == "BS" else None) for inner in value]
    if kind == "B" and isinstance(value, str):
        return base64.b64decode(value)
    return value


def _typed(value: Any) -> Any:
    """to_client for attribute maps: each attribute's typed value."""
    return {name: to_client(typed) for name, typed in value.items()}


class ItemRepairer:
    """Reads the chosen items from the scratch table and writes them into the live table by the conflict policy."""

    def __init__(
        self,
        scratch: TableSide,
        live: TableSide,
        key_names: list[str],
        selection: RepairSelection,
        *,
        dry_run: bool = False,
        cap: float | None = None,
        tuning: RepairTuning | None = None,
    ) -> None:
        self.scratch = scratch
        self.live = live
        self.key_names = key_names
        self.selection = selection
        self.dry_run = dry_run
        self.tuning = tuning or RepairTuning()
        self.limiter = AdaptiveLimiter(cap, clock=self.tuning.clock, sleep=self.tuning.sleep)
        self.writer = BatchWriter(live, self.limiter, self.tuning)

    def run(self, progress: RepairProgress, time_left: Callable[[], float]) -> RepairProgress:
        """Repair page after page from `progress`; at least one page, then while `time_left()` (s) allows."""
        state = progress.model_copy(update={"invocations": progress.invocations + 1})
        worked = False
        while not state.done:
            if worked and time_left() < self.tuning.reserve_seconds:
                break
            chosen, after = self._page(state)
            state = self._repair(chosen, state).model_copy(update=after)
            worked = True
        return state

    # --- choosing items in the scratch table ---------------------------------------------------------------------

    def _page(self, state: RepairProgress) -> tuple[list[WireItem], dict[str, Any]]:
        """The next page of chosen items (wire form) and the position after it."""
        selection = self.selection
        if selection.keys is not None:
            keys = selection.keys[state.position : state.position + KEYS_PER_TURN]
            found = read_items(self.scratch, keys, self.tuning)
            absent = len(keys) - len(found)
            end = state.position + len(keys)
            return found, {
                "position": end,
                "done": end >= len(selection.keys),
                "not_in_source": state.not_in_source + absent,
            }
        params: dict[str, Any] = {"TableName": self.scratch.name, "ConsistentRead": True}
        if state.start_key is not None:
            params["ExclusiveStartKey"] = _typed(state.start_key)
        if selection.partition is not None:
            ((name, value),) = selection.partition.items()
            params |= {
                "KeyConditionExpression": "#k = :v",
                "ExpressionAttributeNames": {"#k": name},
                "ExpressionAttributeValues": {":v": to_client(value)},
            }
            operation = "Query"
        else:
            assert selection.filter is not None  # the selection's validator: exactly one
            params["FilterExpression"] = selection.filter.expression
            if selection.filter.names:
                params["ExpressionAttributeNames"] = selection.filter.names
            if selection.filter.values:
                params["ExpressionAttributeValues"] = _typed(selection.filter.values)
            operation = "Scan"
        client = self.scratch.control
        call = client.query if operation == "Query" else client.scan

        def page() -> dict[str, Any]:
            with translate_errors(operation, self.scratch.name):
                return dict(call(**params))

        answer = with_retries(page, self.tuning)
        key = answer.get("LastEvaluatedKey")
        items = [to_wire(item) for item in answer.get("Items", [])]
        return items, {"start_key": to_wire(key) if key else None, "done": key is None}

    # --- comparing and writing -----------------------------------------------------------------------------------

    def _repair(self, chosen: list[WireItem], state: RepairProgress) -> RepairProgress:
        if not chosen:
            return state
        live = {
            key_id(item, self.key_names): item
            for item in read_items(self.live, [self._key(i) for i in chosen], self.tuning)
        }
        added, overwritten, left = [], [], []
        for item in chosen:
            current = live.get(key_id(item, self.key_names))
            if current is None:
                added.append(item)
            elif orjson.dumps(canonical(current), option=orjson.OPT_SORT_KEYS) == orjson.dumps(
                canonical(item), option=orjson.OPT_SORT_KEYS
            ):
                left.append(item)  # identical: nothing to repair
            elif self.selection.conflict == "overwrite":
                overwritten.append(item)
            else:
                left.append(item)  # missing_only: the live table's item stands
        conflicts = 0
        units = 0.0
        if not self.dry_run:
            if self.selection.conflict == "overwrite":
                written = self.writer.write([{"PutRequest": {"Item": item}} for item in added + overwritten])
                units = written.units
            else:
                kept, conflicts = self._put_missing(added)
                left += [item for item in added if key_id(item, self.key_names) not in kept]
                added = [item for item in added if key_id(item, self.key_names) in kept]
                units = float(len(added))
        return state.model_copy(
            update={
                "chosen": state.chosen + len(chosen),
                "added": state.added + len(added),
                "overwritten": state.overwritten + len(overwritten),
                "left": state.left + len(left),
                "conflicts": state.conflicts + conflicts,
                "write_units": round(state.write_units + units, 3),
                "sample_added": _sample(state.sample_added, added, self.key_names),
                "sample_overwritten": _sample(state.sample_overwritten, overwritten, self.key_names),
                "sample_left": _sample(state.sample_left, left, self.key_names),
            }
        )

    def _put_missing(self, items: list[WireItem]) -> tuple[set[bytes], int]:
        """PutItem with attribute_not_exists on the key, item by item: what was written, and how many were refused
        because the item appeared meanwhile."""
        written: set[bytes] = set()
        refused = 0
        client = self.live.control
        condition = " AND ".join(f"attribute_not_exists(#k{n})" for n in range(len(self.key_names)))
        names = {f"#k{n}": name for n, name in enumerate(self.key_names)}
        for item in items:
            self.limiter.acquire(1.0)

            def put(item: WireItem = item) -> bool:
                try:
                    client.put_item(
                        TableName=self.live.name,
                        Item=_typed(item),
                        ConditionExpression=condition,
                        ExpressionAttributeNames=names,
                    )
                except ClientError as error:
                    if error_code(error) == "ConditionalCheckFailedException":
                        return False  # the item appeared meanwhile: it stands
                    raise domain_error(error, "PutItem", self.live.name) from error
                return True

            if with_retries(put, self.tuning, self.limiter):
                written.add(key_id(item, self.key_names))
            else:
                refused += 1
        return written, refused

    def _key(self, item: WireItem) -> WireItem:
        return {name: item[name] for name in self.key_names}


def _sample(sample: list[WireItem], items: list[WireItem], key_names: list[str]) -> list[WireItem]:
    return sample + [{name: item[name] for name in key_names} for item in items[: SAMPLE - len(sample)]]
