"""Wire-level fault injection into moto's DynamoDB: the errors and partial answers DynamoDB gives under load.

The copy engine sees them as it would see DynamoDB's: real HTTP responses parsed by botocore (in-process with
mock_aws, or through a moto server), so throttling codes, 5xx statuses and UnprocessedItems take the real path.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.dynamodb.responses import DynamoHandler


class ServerError(JsonRESTError):
    code = 500


ERRORS = {
    "throttle": lambda: JsonRESTError(
        "ProvisionedThroughputExceededException", "Throughput exceeds the table's capacity"
    ),
    "throttling": lambda: JsonRESTError("ThrottlingException", "Rate of requests exceeds the allowed throughput"),
    "limit": lambda: JsonRESTError("RequestLimitExceeded", "Throughput exceeds the account's limit"),
    "5xx": lambda: ServerError("InternalServerError", "Internal server error"),
    "expired": lambda: JsonRESTError("ExpiredTokenException", "The security token included in the request is expired"),
}


class Faults:
    """Scripts per operation: each call takes the next action; 'ok' passes; ('partial', k) keeps k items per batch
    (BatchGetItem: answers k keys and hands the rest back as UnprocessedKeys).

    `storm` makes every BatchWriteItem accept a random share of its items (at least `minimum`), as a table at
    capacity would. `written` counts each item put (by its JSON), `batch_sizes` each batch's items; `call_seconds`
    holds every BatchWriteItem and Scan that long (a far table); `most_in_flight` is the most writes answered at once;
    `calls_timed` says when each Scan and BatchWriteItem began and ended.
    """

    def __init__(self) -> None:
        self.scripts: dict[str, list[Any]] = {"BatchWriteItem": [], "Scan": [], "BatchGetItem": []}
        self.calls: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self.storm: tuple[random.Random, int] | None = None
        self.written: Counter[str] = Counter()
        self.call_seconds = 0.0
        self.most_in_flight = 0
        self.calls_timed: list[tuple[str, float, float]] = []  # (operation, began, ended): what overlapped what
        self.batch_sizes: list[int] = []  # items in each BatchWriteItem, in the order they came
        self._in_flight = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self._in_flight)

    def leave(self, requests: list[dict[str, Any]]) -> None:
        with self._lock:
            self._in_flight -= 1
            puts = [r["PutRequest"]["Item"] for r in requests if "PutRequest" in r]  # an apply deletes too
            self.written.update(json.dumps(item, sort_keys=True, default=repr) for item in puts)

    def script(self, operation: str, *actions: Any) -> None:
        self.scripts[operation].extend(actions)

    def next(self, operation: str) -> Any:
        with self._lock:  # a segment's batches, its read ahead and verification's scans call from several threads
            self.calls[operation] += 1
            script = self.scripts[operation]
            return script.pop(0) if script else "ok"

    def scans_while_writing(self) -> int:
        """Scans that were answered while a BatchWriteItem was on the wire (a page read ahead)."""
        writes = [(began, ended) for operation, began, ended in self.calls_timed if operation == "BatchWriteItem"]
        scans = [(began, ended) for operation, began, ended in self.calls_timed if operation == "Scan"]
        return sum(any(began < w_end and w_began < ended for w_began, w_end in writes) for began, ended in scans)

    def count(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self.injected[kind] += n


@contextmanager
def inject(monkeypatch: pytest.MonkeyPatch) -> Iterator[Faults]:
    faults = Faults()
    original_write = DynamoHandler.batch_write_item
    original_scan = DynamoHandler.scan
    original_get = DynamoHandler.batch_get_item

    def batch_write_item(self: DynamoHandler) -> Any:
        faults.enter()
        began = time.monotonic()
        accepted: list[dict[str, Any]] = []
        try:
            if faults.call_seconds:
                time.sleep(faults.call_seconds)
            result = answer(self, accepted)
        finally:
            faults.leave(accepted)
            faults.calls_timed.append(("BatchWriteItem", began, time.monotonic()))
        return result

    def answer(self: DynamoHandler, accepted: list[dict[str, Any]]) -> Any:
        action = faults.next("BatchWriteItem")
        if action in ERRORS:
            faults.count(action)
            raise ERRORS[action]()
        keep: int | None = None
        if isinstance(action, tuple) and action[0] == "partial":
            keep = action[1]
        elif faults.storm is not None:
            rng, minimum = faults.storm
            total = sum(len(requests) for requests in self.body["RequestItems"].values())
            with faults._lock:
                keep = rng.randint(min(minimum, total), total)
        ((table, requests),) = self.body["RequestItems"].items()
        with faults._lock:
            faults.batch_sizes.append(len(requests))
        if keep is None:
            result = original_write(self)
            accepted.extend(requests)
            return result
        self.body = {**self.body, "RequestItems": {table: requests[:keep]}}
        accepted.extend(requests[:keep])
        if keep == 0:
            result = ActionResult({"UnprocessedItems": {table: requests}, "ConsumedCapacity": []})
        else:
            result = original_write(self)
            result.result["UnprocessedItems"] = {table: requests[keep:]} if requests[keep:] else {}
        faults.count("unprocessed", len(requests) - keep)
        return result

    def scan(self: DynamoHandler) -> Any:
        began = time.monotonic()
        if faults.call_seconds:
            time.sleep(faults.call_seconds)
        action = faults.next("Scan")
        if action in ERRORS:
            faults.count(action)
            raise ERRORS[action]()
        result = original_scan(self)
        faults.calls_timed.append(("Scan", began, time.monotonic()))
        return result

    def batch_get_item(self: DynamoHandler) -> Any:
        action = faults.next("BatchGetItem")
        if action in ERRORS:
            faults.count(action)
            raise ERRORS[action]()
        if not (isinstance(action, tuple) and action[0] == "partial"):
            return original_get(self)
        ((table, request),) = self.body["RequestItems"].items()
        keys, keep = request["Keys"], action[1]
        self.body = {**self.body, "RequestItems": {table: {**request, "Keys": keys[:keep]}}}
        if keep == 0:
            result = ActionResult({"Responses": {table: []}, "UnprocessedKeys": {}, "ConsumedCapacity": []})
        else:
            result = original_get(self)
        if keys[keep:]:
            result.result["UnprocessedKeys"] = {table: {**request, "Keys": keys[keep:]}}
        faults.count("unprocessed keys", len(keys) - keep)
        return result

    monkeypatch.setattr(DynamoHandler, "batch_write_item", batch_write_item)
    monkeypatch.setattr(DynamoHandler, "scan", scan)
    monkeypatch.setattr(DynamoHandler, "batch_get_item", batch_get_item)
    yield faults


def fail_first(
    monkeypatch: pytest.MonkeyPatch, method: str, times: int, error: Callable[[], Exception]
) -> Counter[str]:
    """moto's `DynamoHandler.<method>` raises `error()` on its first `times` calls, then answers as usual.

    Returns the count of calls made (key: the method)."""
    original = getattr(DynamoHandler, method)
    calls: Counter[str] = Counter()

    def failing(self: DynamoHandler) -> Any:
        calls[method] += 1
        if calls[method] <= times:
            raise error()
        return original(self)

    monkeypatch.setattr(DynamoHandler, method, failing)
    return calls


def deny_s3_reads(monkeypatch: pytest.MonkeyPatch, prefix: str) -> Counter[str]:
    """moto's S3 answers GetObject of any key under `prefix` with AccessDenied, as S3 does when IAM, the bucket
    policy or the object's KMS key refuses the reader. Returns the count of reads refused (key: the prefix)."""
    from moto.s3.exceptions import S3AccessDeniedError
    from moto.s3.responses import S3Response

    original = S3Response.get_object
    refused: Counter[str] = Counter()

    def get_object(self: S3Response) -> Any:
        if self.parse_key_name().startswith(prefix):
            refused[prefix] += 1
            raise S3AccessDeniedError()
        return original(self)

    monkeypatch.setattr(S3Response, "get_object", get_object)
    return refused
