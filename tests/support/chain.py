"""Exports in DynamoDB's real layout, written by the tests themselves (moto writes neither manifests nor change
records), and the table they describe, computed beside them as the reference a restore is compared with item for item.

`History` is a table changing over time: inserts, updates and deletes in windows, every attribute type
(tests.support.tables.item). `ChainWriter` (ddbkeeper.local.exports.ExportWriter, which the demo uses too) writes what
DynamoDB would export of it: FULL and INCREMENTAL exports with their manifests and MD5s, incremental data files in a
shared AWSDynamoDB/data/ folder, and the export workflow's ledger entries.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from ddbkeeper.local.exports import ExportWriter
from ddbkeeper.wire import to_wire

from tests.support.tables import item

__all__ = [
    "KEY_ATTRIBUTES", "KEY_SCHEMA", "T0", "ChainWriter", "History", "Item", "Key",
    "build_chain", "key_of", "keys_item", "ordered", "to_wire",
]  # fmt: skip

Key = tuple[str, int]
Item = dict[str, Any]  # as boto3's client reads and writes items (binary as bytes)

KEY_SCHEMA = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
KEY_ATTRIBUTES = [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}]
T0 = datetime(2026, 9, 1, 0, 0, tzinfo=UTC)


def key_of(value: Item) -> Key:
    return value["pk"]["S"], int(value["sk"]["N"])


def keys_item(key: Key) -> Item:
    return {"pk": {"S": key[0]}, "sk": {"N": str(key[1])}}


def ordered(items: Iterable[Item]) -> list[Item]:
    """Items in the order tests.support.tables.all_items reads them."""
    return sorted(items, key=key_of)


class History:
    """A table's items over time; `snapshot()` is the table at this moment, `change()` moves it on."""

    def __init__(self, items: int, seed: int = 11, pad: int = 20) -> None:
        self.rng = random.Random(seed)
        self.pad = pad
        self.next = 0
        self.items: dict[Key, Item] = {}
        for _ in range(items):
            self.insert()

    def insert(self) -> Key:
        value = item(self.next, self.rng, self.pad)
        self.next += 1
        self.items[key_of(value)] = value
        return key_of(value)

    def update(self, key: Key) -> None:
        value = dict(self.items[key])
        value["version"] = {"N": str(int(value.get("version", {"N": "0"})["N"]) + 1)}
        value["note"] = {"S": f"changed {self.rng.random():.6f}"}
        value.pop("optional", None)
        self.items[key] = value

    def delete(self, key: Key) -> None:
        del self.items[key]

    def some(self, count: int) -> list[Key]:
        return self.rng.sample(sorted(self.items), min(count, len(self.items)))

    def snapshot(self) -> dict[Key, Item]:
        return dict(self.items)

    def change(self, inserts: int, updates: int, deletes: int, touch: Iterable[Key] = ()) -> None:
        """One window's writes: some keys updated twice (only their last state is exported), `touch` updated too."""
        for key in touch:
            if key in self.items:
                self.update(key)
        for key in self.some(updates):
            self.update(key)
            if self.rng.random() < 0.3:
                self.update(key)
        touched = set(touch)
        for key in [key for key in self.some(deletes + len(touched)) if key not in touched][:deletes]:
            self.delete(key)
        for _ in range(inserts):
            self.insert()
        created = self.insert()  # created and deleted within the window: no line in the export
        self.delete(created)


class ChainWriter(ExportWriter):
    """The real-layout writer, keyed on pk and sk like every table here; `record` writes what the real ExportRecord
    model reads back (tests/shared/test_export_files.py holds it to that)."""


def build_chain(
    writer: ChainWriter,
    history: History,
    windows: int,
    *,
    view: str = "NEW_AND_OLD_IMAGES",
    record: bool = True,
    step: timedelta = timedelta(hours=1),
    inserts: int = 6,
    updates: int = 5,
    deletes: int = 3,
) -> list[dict[Key, Item]]:
    """A FULL export at T0, then `windows` incremental exports of `step` each; one key changes in the first two
    windows. Returns the table at T0 and at each window's end (the references)."""
    snapshots = [history.snapshot()]
    url = writer.full(snapshots[0], T0)
    if record:
        writer.record(url, None, T0, items=len(snapshots[0]))
    twice = history.some(1)
    for n in range(windows):
        start, end = T0 + n * step, T0 + (n + 1) * step
        history.change(inserts, updates, deletes, touch=twice if n < 2 else ())
        snapshots.append(history.snapshot())
        url = writer.incremental(snapshots[-2], snapshots[-1], start, end, view=view)
        if record:
            writer.record(url, start, end)
    return snapshots
