"""An append's verification: every source item is in the target exactly as written.

Counting or summing both tables cannot verify an append: the target had items of its own before, so the tables differ
by design. Instead the source is scanned (parallel segments, wire form) and each page's items are read back from the
target by key with BatchGetItem (consistent reads, 100 keys a call, UnprocessedKeys re-sent under the data path's
retry policy), and each pair is compared by the digest of its canonical encoding. The target's other items are its own.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson

from ddbkeeper.copy.models import AppendCheck
from ddbkeeper.errors import Throttled, TransientAwsError
from ddbkeeper.pacing import PartialProgress, Tuning, with_retries
from ddbkeeper.tables import TableSide
from ddbkeeper.wire import WireItem, WireTable, canonical, item_digest

GET_BATCH = 100  # BatchGetItem's limit
EXAMPLES = 5  # keys named in a failed check, of each kind


class UnprocessedKeysRemain(PartialProgress):
    """DynamoDB read part of a batch; the retry loop asks again for the rest."""


@dataclass
class _Findings:
    checked: int = 0
    missing: int = 0
    different: int = 0
    digest: int = 0
    missing_keys: list[WireItem] = field(default_factory=list)
    different_keys: list[WireItem] = field(default_factory=list)

    def add(self, other: _Findings) -> None:
        self.checked += other.checked
        self.missing += other.missing
        self.different += other.different
        self.digest = (self.digest + other.digest) % 2**256
        self.missing_keys = (self.missing_keys + other.missing_keys)[:EXAMPLES]
        self.different_keys = (self.different_keys + other.different_keys)[:EXAMPLES]


def check_appended(
    source: TableSide, target: TableSide, key_attributes: list[str], segments: int, tuning: Tuning | None = None
) -> tuple[AppendCheck, int]:
    """Read every source item back from the target by its key; returns what was found and the order-free sum of the
    source items' digests (the same sum a checksum verification computes)."""
    tuning = tuning or Tuning()

    def one(segment: int) -> _Findings:
        found = _Findings()
        start: WireItem | None = None
        for _ in range(10**9):

            def scan(wire: WireTable, start: WireItem | None = start) -> dict[str, Any]:
                return wire.scan_page(segment, segments, start, consistent=True)

            page = with_retries(lambda: source.call("Scan", scan), tuning)
            items: list[WireItem] = page["Items"]
            for begin in range(0, len(items), GET_BATCH):
                found.add(_compare(items[begin : begin + GET_BATCH], target, key_attributes, tuning))
            start = page.get("LastEvaluatedKey")
            if start is None:
                break
        return found

    total = _Findings()
    with ThreadPoolExecutor(max_workers=min(segments, 8)) as pool:
        for findings in pool.map(one, range(segments)):
            total.add(findings)
    check = AppendCheck(
        checked=total.checked,
        missing=total.missing,
        different=total.different,
        missing_keys=total.missing_keys,
        different_keys=total.different_keys,
    )
    return check, total.digest


def _compare(items: list[WireItem], target: TableSide, key_attributes: list[str], tuning: Tuning) -> _Findings:
    """Compare up to 100 source items with the target's items under the same keys."""
    keyed = {_key_id(item, key_attributes): item for item in items}
    there = _read(target, [_key(item, key_attributes) for item in items], tuning)
    read = {_key_id(item, key_attributes): item for item in there}
    findings = _Findings(checked=len(items))
    for key_id, item in keyed.items():
        digest = item_digest(item)
        findings.digest = (findings.digest + digest) % 2**256
        written = read.get(key_id)
        if written is None:
            findings.missing += 1
            if len(findings.missing_keys) < EXAMPLES:
                findings.missing_keys.append(_key(item, key_attributes))
        elif item_digest(written) != digest:
            findings.different += 1
            if len(findings.different_keys) < EXAMPLES:
                findings.different_keys.append(_key(item, key_attributes))
    return findings


def _read(target: TableSide, keys: list[WireItem], tuning: Tuning) -> list[WireItem]:
    """BatchGetItem until every key is answered: UnprocessedKeys and throttling retried with backoff and full jitter."""
    pending = keys
    found: list[WireItem] = []
    stalls = 0

    def attempt() -> None:
        nonlocal pending, stalls
        try:
            items, unprocessed = target.call("BatchGetItem", lambda wire: wire.batch_get(pending))
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
            f"BatchGetItem {target.name}: {len(pending)} keys still unprocessed after {tuning.max_stalls} attempts "
            "without progress"
        ) from error
    return found


def _key(item: WireItem, key_attributes: list[str]) -> WireItem:
    return {name: item[name] for name in key_attributes}


def _key_id(item: WireItem, key_attributes: list[str]) -> bytes:
    return orjson.dumps(canonical(_key(item, key_attributes)), option=orjson.OPT_SORT_KEYS)
