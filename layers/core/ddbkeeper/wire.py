"""DynamoDB items in wire form: Scan pages, BatchWriteItem and BatchGetItem bodies pass through without botocore's
shape walk.

botocore parses every attribute of every item into Python types, and the serializer walks them again on the way out;
for a copy that is most of the CPU. These hooks keep botocore's endpoints, credentials, signing and error handling, but:
- Scan: `before-parse` takes `Items` and `LastEvaluatedKey` out of the raw body before the parser sees them and hands
  them back as they came over the wire (binary values stay base64 strings);
- BatchWriteItem: `before-sign` replaces the request body with the caller's already-encoded JSON, and `before-parse`
  hands `UnprocessedItems` back in wire form so they can be re-sent as they are;
- BatchGetItem: the same, keys in and `Responses` and `UnprocessedKeys` out in wire form (an append's verification
  compares what it reads back with what Scan read, byte for byte);
- Scan's ExclusiveStartKey is put into the body in wire form too, so a checkpoint (JSON) can be resumed from.
Anything that inspects items (checksums, sizes) must read this form. orjson does the little (de)serialising left.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

import orjson

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

WireItem = dict[str, dict[str, Any]]
_PLACEHOLDER_ITEM = {"_": {"NULL": True}}


# What the next request of this thread should carry in wire form; a thread makes one call at a time.
_pending = threading.local()


class _FewerCollections:
    """Collects cycles less often while any thread handles items in bulk (see `fewer_collections`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside = 0  # threads handling items in bulk now
        self._before = gc.get_threshold()

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._inside == 0:
                self._before = gc.get_threshold()
                gc.set_threshold(max(self._before[0], BULK_COLLECTION_THRESHOLD), *self._before[1:])
            self._inside += 1
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1
                if self._inside == 0:
                    gc.set_threshold(*self._before)


# A Scan page or an export file parses into tens of thousands of dicts and lists, none in a cycle (reference counting
# frees them), and a copy makes as many again for its requests. Python's cyclic collector ran after every 700 new
# containers and walked what was still alive each time: two thirds of the CPU of parsing a page (25 vs 7 CPU-us an item
# here), a third of the copy engine's (65-86 vs 90-139). Cycles are still collected, every BULK_COLLECTION_THRESHOLD new
# containers.
BULK_COLLECTION_THRESHOLD = 50_000
fewer_collections = _FewerCollections()


class WireTable:
    """Scan and BatchWriteItem on one table with items in wire form. Any number may share a client and its threads."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self.client = client
        self.table = table
        events = client.meta.events
        # unique_id: the hooks are registered once per client however many WireTables use it.
        events.register("before-sign.dynamodb.Scan", _scan_body, unique_id="ddbkeeper-wire-scan-body")
        events.register("before-parse.dynamodb.Scan", _scan_page, unique_id="ddbkeeper-wire-scan-page")
        events.register("before-sign.dynamodb.BatchWriteItem", _write_body, unique_id="ddbkeeper-wire-write-body")
        events.register("before-parse.dynamodb.BatchWriteItem", _unprocessed, unique_id="ddbkeeper-wire-unprocessed")
        events.register("before-sign.dynamodb.BatchGetItem", _write_body, unique_id="ddbkeeper-wire-get-body")
        events.register("before-parse.dynamodb.BatchGetItem", _responses, unique_id="ddbkeeper-wire-responses")

    def scan_page(
        self,
        segment: int,
        total_segments: int,
        exclusive_start_key: WireItem | None,
        *,
        select_count: bool = False,
        consistent: bool = False,
    ) -> dict[str, Any]:
        """One page (up to 1 MB) of a parallel scan: Items and LastEvaluatedKey in wire form, ConsumedCapacity,
        ResponseBytes (the page's size on the wire)."""
        params: dict[str, Any] = {
            "TableName": self.table,
            "Segment": segment,
            "TotalSegments": total_segments,
            "ReturnConsumedCapacity": "TOTAL",
            "ConsistentRead": consistent,
        }
        if select_count:
            params["Select"] = "COUNT"
        _pending.start_key = exclusive_start_key
        try:
            # Items and LastEvaluatedKey come back in wire form (the hooks below), not as the stubs describe them.
            page = cast(dict[str, Any], self.client.scan(**params))
        finally:
            _pending.start_key = None
        page.setdefault("Items", [])
        return page

    def batch_write(self, requests: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], float]:
        """Write up to 25 wire-form write requests; returns the unprocessed ones (wire form) and units consumed."""
        body = {"RequestItems": {self.table: requests}, "ReturnConsumedCapacity": "TOTAL"}
        _pending.body = orjson.dumps(body)
        try:
            response = self.client.batch_write_item(
                RequestItems={self.table: [{"PutRequest": {"Item": _PLACEHOLDER_ITEM}}]}, ReturnConsumedCapacity="TOTAL"
            )
        finally:
            _pending.body = None
        unprocessed = cast(list[dict[str, Any]], response.get("UnprocessedItems", {}).get(self.table, []))
        consumed = sum(c.get("CapacityUnits", 0.0) for c in response.get("ConsumedCapacity", []) or [])
        return unprocessed, float(consumed)

    def batch_get(self, keys: list[WireItem], *, consistent: bool = True) -> tuple[list[WireItem], list[WireItem]]:
        """Read up to 100 items by key (wire form); returns the items found and the keys left unprocessed (wire form).

        A key with no item is simply not among the items found."""
        body = {
            "RequestItems": {self.table: {"Keys": keys, "ConsistentRead": consistent}},
            "ReturnConsumedCapacity": "TOTAL",
        }
        _pending.body = orjson.dumps(body)
        try:
            # Responses and UnprocessedKeys come back in wire form (the hooks below), not as the stubs describe them.
            response = cast(
                dict[str, Any],
                self.client.batch_get_item(
                    RequestItems={self.table: {"Keys": [_PLACEHOLDER_ITEM]}}, ReturnConsumedCapacity="TOTAL"
                ),
            )
        finally:
            _pending.body = None
        found: list[WireItem] = response.get("Responses", {}).get(self.table, [])
        unprocessed: list[WireItem] = response.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
        return found, unprocessed


# -- identity and checksums ------------------------------------------------------------------------------------------


def key_id(item: WireItem, key_names: list[str]) -> bytes:
    """An item's key as bytes equal for equal keys (wire form, canonical): to match an item read back by key to the
    one it was asked for."""
    return orjson.dumps(canonical({name: item[name] for name in key_names}), option=orjson.OPT_SORT_KEYS)


def to_wire(value: Any) -> Any:
    """A value as boto3's low-level client reads and writes it (binary as bytes) in wire form, the JSON DynamoDB's
    wire and exports use (binary as base64 text)."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {name: to_wire(inner) for name, inner in value.items()}
    if isinstance(value, list | set | tuple):
        return [to_wire(inner) for inner in value]
    return value


def canonical(item: WireItem) -> WireItem:
    """An item in a form equal for equal items: sets sorted, map keys sorted when dumped.

    An item is read as attributes, each a typed value: an item whose one attribute is named like a type ("M", "L",
    "SS"...) is not taken for a value of that type.
    """
    return {name: _canonical_value(value) for name, value in item.items()}


def _canonical_value(value: Any) -> Any:
    if not isinstance(value, dict) or len(value) != 1:
        return value  # not a typed value in wire form: nothing to normalise
    ((kind, inner),) = value.items()
    if kind in ("SS", "NS", "BS"):
        return {kind: sorted(inner)}
    if kind == "L":
        return {kind: [_canonical_value(v) for v in inner]}
    if kind == "M":
        return {kind: canonical(inner)}
    return value


def item_digest(item: WireItem) -> int:
    """A 256-bit hash of an item's canonical encoding; digests of a table add up (mod 2**256) in any order."""
    encoded = json.dumps(canonical(item), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return int.from_bytes(hashlib.sha256(encoded).digest(), "big")


# -- botocore hooks -------------------------------------------------------------------------------------------------


def _scan_body(request: Any, **_: Any) -> None:
    start_key = getattr(_pending, "start_key", None)
    if start_key is None:
        return
    body = orjson.loads(request.body)
    body["ExclusiveStartKey"] = start_key
    _set_body(request, orjson.dumps(body))


def _write_body(request: Any, **_: Any) -> None:
    body = getattr(_pending, "body", None)
    if body is not None:
        _set_body(request, body)


def _scan_page(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    customized_response_dict["ResponseBytes"] = len(response_dict.get("body") or b"")
    _take_raw(response_dict, customized_response_dict, ("Items", "LastEvaluatedKey"))


def _unprocessed(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    _take_raw(response_dict, customized_response_dict, ("UnprocessedItems",))


def _responses(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    _take_raw(response_dict, customized_response_dict, ("Responses", "UnprocessedKeys"))


def _take_raw(response: dict[str, Any], custom: dict[str, Any], keys: tuple[str, ...]) -> None:
    if response.get("status_code", 200) >= 300 or not response.get("body"):
        return  # errors go to botocore's parser untouched
    with fewer_collections():
        body = orjson.loads(response["body"])
    for key in keys:
        if key in body:
            custom[key] = body.pop(key)
    response["body"] = orjson.dumps(body)


def _set_body(request: Any, body: bytes) -> None:
    request.data = body
    request.headers["Content-Length"] = str(len(body))
