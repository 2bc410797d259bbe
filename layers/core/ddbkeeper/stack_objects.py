"""Small JSON objects a workflow keeps in the stack's bucket under its execution's folder (a copy's checkpoints and
segment lists, a restore's lists of data files and their results): put, read back (None when missing), and lists of
models as JSON arrays, the form a Distributed Map's ItemReader reads."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar, cast

from botocore.exceptions import ClientError
from pydantic import BaseModel

from ddbkeeper.aws import Account, error_code, local_client, translate_errors

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

T = TypeVar("T")
READERS = 16  # GetObject calls in flight when a step reads every segment's or file's result back


def stack_folders_s3(own: Account, local_endpoint: str | None) -> Callable[[], S3Client]:
    """The client for a workflow's folder in the stack's bucket, with the function's own credentials, built on first
    use; on the embedded runtime (`local_endpoint`: STACK_FOLDERS_ENDPOINT) its own server's, where the Maps'
    ItemReader reads and the CLI follows the checkpoints, whatever endpoint the data is on."""
    if not local_endpoint:
        return lambda: own.s3
    return functools.cache(lambda: cast("S3Client", local_client("s3", local_endpoint)))


class StackObjects:
    def __init__(self, s3: Callable[[], S3Client], bucket: str) -> None:
        self._s3 = s3  # the function's own credentials, built on first use
        self.bucket = bucket

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _put(self, key: str, body: bytes) -> None:
        with translate_errors("PutObject", self.url(key)):
            self._s3().put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")

    def _put_array(self, key: str, models: Iterable[BaseModel]) -> None:
        """A JSON array of the models (what ItemReader reads with InputType JSON)."""
        self._put(key, b"[" + b",".join(model.model_dump_json().encode() for model in models) + b"]")

    @staticmethod
    def _gather(load: Callable[[int], T], numbers: list[int]) -> list[T]:
        """`load` of every number (a segment's or a file's object), READERS at a time, in the numbers' order."""
        with ThreadPoolExecutor(max_workers=max(1, min(READERS, len(numbers)))) as pool:
            return list(pool.map(load, numbers))

    def _get(self, key: str) -> bytes | None:
        with translate_errors("GetObject", self.url(key)):
            try:
                body: bytes = self._s3().get_object(Bucket=self.bucket, Key=key)["Body"].read()
            except ClientError as error:
                if error_code(error) == "NoSuchKey":
                    return None
                raise
        return body
