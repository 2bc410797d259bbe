"""Small JSON objects a workflow keeps in the stack's bucket under its execution's folder (a copy's checkpoints and
segment lists, a restore's lists of data files and their results): put, read back (None when missing), and lists of
models as JSON arrays, the form a Distributed Map's ItemReader reads."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError
from pydantic import BaseModel

from ddbkeeper.aws import error_code, translate_errors

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


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

    def _get(self, key: str) -> bytes | None:
        with translate_errors("GetObject", self.url(key)):
            try:
                body: bytes = self._s3().get_object(Bucket=self.bucket, Key=key)["Body"].read()
            except ClientError as error:
                if error_code(error) == "NoSuchKey":
                    return None
                raise
        return body
