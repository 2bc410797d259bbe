"""A provisioned-capacity front for any DynamoDB-compatible server (dynalite, moto), for benchmarks and tests.

It proxies the DynamoDB JSON protocol and charges BatchWriteItem and PutItem against a write-capacity token bucket the
way DynamoDB does: a batch gets the entries that fit, the rest come back as UnprocessedItems; a request of which
nothing fits is refused with ProvisionedThroughputExceededException. Everything else passes through. Its statistics
say how much of the capacity a client used and how much it had to re-send.

`delay_seconds` adds a fixed delay to every data call (a table in a far region: one round trip away), except calls on
`near_tables` only (a copy from a table nearby to one far away); with no `write_units_per_second` the front only
delays and counts. `record_items` counts every item written by its JSON, so a
test can tell an item written twice from one re-sent because it was refused.
"""

from __future__ import annotations

import base64
import http.client
import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

DATA_CALLS = {
    "Scan", "Query", "GetItem", "BatchGetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem",
}  # fmt: skip
FORWARDED_HEADERS = ("Content-Type", "X-Amz-Target", "Authorization", "X-Amz-Date", "X-Amz-Security-Token")
THROTTLED = {
    "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
    "message": "The level of configured provisioned throughput for the table was exceeded.",
}


def _number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").strip("0") or "0"  # significant digits
    return math.ceil(len(digits) / 2) + 1


_SCALAR_SIZES: dict[str, Callable[[Any], int]] = {
    "S": lambda inner: len(inner.encode()),
    "N": _number_size,
    "B": lambda inner: len(base64.b64decode(inner)),
    "BOOL": lambda inner: 1,
    "NULL": lambda inner: 1,
}


def value_size(value: dict[str, Any]) -> int:
    """Bytes of one attribute value in wire form, as DynamoDB counts them (approximately, for numbers)."""
    ((kind, inner),) = value.items()
    if kind in _SCALAR_SIZES:
        return _SCALAR_SIZES[kind](inner)
    if kind in ("SS", "NS", "BS"):
        return sum(_SCALAR_SIZES[kind[0]](member) for member in inner)
    if kind == "L":
        return 3 + sum(value_size(member) + 1 for member in inner)
    if kind == "M":
        return 3 + sum(len(name.encode()) + value_size(member) + 1 for name, member in inner.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(entry: dict[str, Any]) -> int:
    """Units one BatchWriteItem entry costs: a unit per started KiB of a put, one for a delete."""
    if "PutRequest" in entry:
        return max(1, math.ceil(item_size(entry["PutRequest"]["Item"]) / 1024))
    return 1


class TokenBucket:
    def __init__(self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._at = clock()
        self._lock = threading.Lock()

    def take(self, units: float) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= units:
                self._tokens -= units
                return True
            return False


@dataclass(frozen=True)
class FrontStats:
    seconds: float
    items_offered: int
    items_written: int
    items_rejected: int
    units_consumed: float
    throttled_requests: int
    capacity_units: float

    @property
    def utilisation(self) -> float:
        return self.units_consumed / self.capacity_units if self.capacity_units else 0.0

    @property
    def resent_share(self) -> float:
        return self.items_rejected / self.items_written if self.items_written else 0.0


class CapacityFront:
    def __init__(
        self,
        upstream: str,
        write_units_per_second: float | None = None,
        *,
        burst_seconds: float = 1.0,
        delay_seconds: float = 0.0,
        near_tables: frozenset[str] = frozenset(),
        record_items: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.upstream = urlsplit(upstream)
        self.rate = write_units_per_second or 0.0
        self.bucket = (
            TokenBucket(write_units_per_second, write_units_per_second * burst_seconds, clock)
            if write_units_per_second
            else None
        )
        self.delay_seconds = delay_seconds
        self.near_tables = near_tables
        self.record_items = record_items
        self.written: Counter[str] = Counter()
        self._clock = clock
        self._lock = threading.Lock()
        self._local = threading.local()
        self._server: ThreadingHTTPServer | None = None
        self.url = ""
        self.reset_stats()

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def start(self) -> CapacityFront:
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                front._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> CapacityFront:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    # -- statistics -----------------------------------------------------------------------------------------------

    def reset_stats(self) -> None:
        with self._lock:
            self._first: float | None = None
            self._last = 0.0
            self._offered = self._written = self._rejected = self._throttled = 0
            self._units = 0.0
            self.written = Counter()

    def stats(self) -> FrontStats:
        with self._lock:
            seconds = (self._last - self._first) if self._first is not None else 0.0
            return FrontStats(
                seconds=seconds,
                items_offered=self._offered,
                items_written=self._written,
                items_rejected=self._rejected,
                units_consumed=self._units,
                throttled_requests=self._throttled,
                # What the table offered over the window: its rate, plus the burst the bucket started with.
                capacity_units=self.rate * seconds + (self.bucket.capacity if self.bucket else 0.0),
            )

    # -- the proxy ------------------------------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length", 0)))
        headers = {name: request.headers[name] for name in FORWARDED_HEADERS if request.headers.get(name)}
        operation = headers.get("X-Amz-Target", "").rpartition(".")[2]
        if self.delay_seconds and operation in DATA_CALLS and not self._near(json.loads(body or b"{}")):
            time.sleep(self.delay_seconds)
        if operation in ("BatchWriteItem", "PutItem"):
            status, out = self._write(operation, json.loads(body), headers)
            self._reply(request, status, json.dumps(out).encode(), {"Content-Type": "application/x-amz-json-1.0"})
            return
        status, reply_headers, reply = self._forward(body, headers)
        self._reply(request, status, reply, reply_headers)

    def _near(self, body: dict[str, Any]) -> bool:
        """Whether a data call names only near tables (TableName, or the tables of a batch's RequestItems)."""
        tables = set(body.get("RequestItems", {})) | ({body["TableName"]} if "TableName" in body else set())
        return bool(tables) and tables <= self.near_tables

    def _write(self, operation: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        arrived = self._clock()
        entries = (
            [(body["TableName"], {"PutRequest": {"Item": body["Item"]}})]
            if operation == "PutItem"
            else [(table, entry) for table, requests in body["RequestItems"].items() for entry in requests]
        )
        accepted: dict[str, list[dict[str, Any]]] = {}
        unprocessed: dict[str, list[dict[str, Any]]] = {}
        charged: dict[str, float] = {}
        refusing = False
        for table, entry in entries:
            units = write_units(entry)
            if not refusing and (self.bucket is None or self.bucket.take(units)):
                accepted.setdefault(table, []).append(entry)
                charged[table] = charged.get(table, 0.0) + units
            else:
                refusing = True  # DynamoDB hands back the tail of a batch, not a scattering
                unprocessed.setdefault(table, []).append(entry)
        written = sum(len(v) for v in accepted.values())
        if not written:
            self._count(arrived, offered=len(entries), written=0, rejected=len(entries), units=0.0, throttled=True)
            return 400, THROTTLED
        if operation == "PutItem":
            status, _, reply = self._forward(json.dumps(body).encode(), headers)
            out: dict[str, Any] = json.loads(reply or b"{}")
        else:
            forwarded = {**body, "RequestItems": accepted}
            forwarded.pop("ReturnConsumedCapacity", None)
            status, _, reply = self._forward(json.dumps(forwarded).encode(), headers)
            out = json.loads(reply or b"{}")
            if status == 200:
                for table, entries_left in unprocessed.items():
                    out.setdefault("UnprocessedItems", {}).setdefault(table, []).extend(entries_left)
        if status == 200 and body.get("ReturnConsumedCapacity") in ("TOTAL", "INDEXES"):
            consumed = [{"TableName": table, "CapacityUnits": units} for table, units in charged.items()]
            out["ConsumedCapacity"] = consumed if operation == "BatchWriteItem" else consumed[0]
        rejected = sum(len(v) for v in unprocessed.values())
        if status == 200 and self.record_items:
            with self._lock:
                self.written.update(
                    json.dumps(entry["PutRequest"]["Item"], sort_keys=True)
                    for entries_in in accepted.values()
                    for entry in entries_in
                    if "PutRequest" in entry
                )
        self._count(
            arrived,
            offered=len(entries),
            written=written,
            rejected=rejected,
            units=sum(charged.values()),
            throttled=False,
        )
        return status, out

    def _count(
        self, arrived: float, *, offered: int, written: int, rejected: int, units: float, throttled: bool
    ) -> None:
        with self._lock:
            self._first = arrived if self._first is None else min(self._first, arrived)
            self._last = max(self._last, self._clock())
            self._offered += offered
            self._written += written
            self._rejected += rejected
            self._units += units
            self._throttled += throttled

    def _forward(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        for attempt in range(2):  # the upstream may have closed an idle keep-alive connection: reconnect once
            connection = getattr(self._local, "connection", None)
            if connection is None:
                host, port = self.upstream.hostname or "127.0.0.1", self.upstream.port
                connection = self._local.connection = http.client.HTTPConnection(host, port, timeout=60)
            try:
                connection.request("POST", "/", body=body, headers={**headers, "Content-Length": str(len(body))})
                response = connection.getresponse()
                reply = response.read()
                break
            except (http.client.HTTPException, OSError):
                connection.close()
                self._local.connection = None
                if attempt:
                    raise
        # x-amz-crc32 would not match a body the front rewrote: never pass it on.
        passed = {k: v for k, v in response.getheaders() if k.lower() in ("content-type", "x-amzn-requestid")}
        return response.status, passed, reply

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        if status == 400 and body and b"ProvisionedThroughputExceeded" in body:
            request.send_header("x-amzn-ErrorType", "ProvisionedThroughputExceededException")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
