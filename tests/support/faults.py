"""Wire-level fault injection into moto's DynamoDB: the errors and partial answers DynamoDB gives under load.

The copy engine sees them as it would see DynamoDB's: real HTTP responses parsed by botocore (in-process with
mock_aws, or through a moto server), so throttling codes, 5xx statuses and UnprocessedItems take the real path.
"""

from __future__ import annotations

import random
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
    capacity would.
    """

    def __init__(self) -> None:
        self.scripts: dict[str, list[Any]] = {"BatchWriteItem": [], "Scan": [], "BatchGetItem": []}
        self.calls: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self.storm: tuple[random.Random, int] | None = None

    def script(self, operation: str, *actions: Any) -> None:
        self.scripts[operation].extend(actions)

    def next(self, operation: str) -> Any:
        self.calls[operation] += 1
        script = self.scripts[operation]
        return script.pop(0) if script else "ok"


@contextmanager
def inject(monkeypatch: pytest.MonkeyPatch) -> Iterator[Faults]:
    faults = Faults()
    original_write = DynamoHandler.batch_write_item
    original_scan = DynamoHandler.scan
    original_get = DynamoHandler.batch_get_item

    def batch_write_item(self: DynamoHandler) -> Any:
        action = faults.next("BatchWriteItem")
        if action in ERRORS:
            faults.injected[action] += 1
            raise ERRORS[action]()
        keep: int | None = None
        if isinstance(action, tuple) and action[0] == "partial":
            keep = action[1]
        elif faults.storm is not None:
            rng, minimum = faults.storm
            total = sum(len(requests) for requests in self.body["RequestItems"].values())
            keep = rng.randint(min(minimum, total), total)
        if keep is None:
            return original_write(self)
        ((table, requests),) = self.body["RequestItems"].items()
        self.body = {**self.body, "RequestItems": {table: requests[:keep]}}
        if keep == 0:
            result = ActionResult({"UnprocessedItems": {table: requests}, "ConsumedCapacity": []})
        else:
            result = original_write(self)
            result.result["UnprocessedItems"] = {table: requests[keep:]} if requests[keep:] else {}
        faults.injected["unprocessed"] += len(requests) - keep
        return result

    def scan(self: DynamoHandler) -> Any:
        action = faults.next("Scan")
        if action in ERRORS:
            faults.injected[action] += 1
            raise ERRORS[action]()
        return original_scan(self)

    def batch_get_item(self: DynamoHandler) -> Any:
        action = faults.next("BatchGetItem")
        if action in ERRORS:
            faults.injected[action] += 1
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
        faults.injected["unprocessed keys"] += len(keys) - keep
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
