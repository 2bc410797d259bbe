"""AWS access: sessions for the accounts we act in, and the one place that turns AWS errors into domain errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    NoCredentialsError,
)

from ddbkeeper import __version__
from ddbkeeper.errors import (
    AccessDenied,
    AwsError,
    BackupLimitExceeded,
    DdbkeeperError,
    InvalidInput,
    TableNotFound,
    Throttled,
    TransientAwsError,
)

logger = Logger(child=True)

# Control-plane calls: botocore's standard retry mode absorbs short throttling; longer trouble surfaces as a domain
# error that the state machine retries with its own backoff.
CONTROL_PLANE_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5}, user_agent_extra=f"ddbkeeper/{__version__}"
)

# Session names allow [\w+=,.@-] and at most 64 characters.
_SESSION_NAME_UNSAFE = re.compile(r"[^\w+=,.@-]")

Client = Any  # boto3 clients are generated at run time; the core treats them structurally.


@dataclass(frozen=True)
class AccountAccess:
    """How to reach one account and region: an optional role to assume, else the ambient credentials."""

    region: str | None = None
    role_arn: str | None = None
    external_id: str | None = None


class SessionFactory:
    """Builds boto3 sessions for an `AccountAccess`, assuming the role when one is given.

    Endpoints and ambient credentials resolve the standard way (AWS_PROFILE, AWS_ENDPOINT_URL,
    AWS_ENDPOINT_URL_DYNAMODB...): nothing here redirects them, which is what lets the same code act on AWS, moto or
    any DynamoDB-compatible server.
    """

    def __init__(self, session_name: str = "ddbkeeper", base_session: boto3.Session | None = None) -> None:
        self._session_name = _SESSION_NAME_UNSAFE.sub("-", session_name)[:64] or "ddbkeeper"
        self._base = base_session or boto3.Session()

    def client(self, service: str, access: AccountAccess, config: Config = CONTROL_PLANE_CONFIG) -> Client:
        region = access.region or self._base.region_name
        if not region:
            raise InvalidInput("region: no region given and none configured (set AWS_DEFAULT_REGION or pass region)")
        if not access.role_arn:
            return self._base.client(service, region_name=region, config=config)
        credentials = self._assume(access, region)
        return boto3.client(
            service,
            region_name=region,
            config=config,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )

    def _assume(self, access: AccountAccess, region: str) -> dict[str, Any]:
        sts = self._base.client("sts", region_name=region, config=CONTROL_PLANE_CONFIG)
        params: dict[str, Any] = {"RoleArn": access.role_arn, "RoleSessionName": self._session_name}
        if access.external_id:
            params["ExternalId"] = access.external_id
        with translate_errors("AssumeRole", str(access.role_arn)):
            credentials: dict[str, Any] = sts.assume_role(**params)["Credentials"]
        logger.debug("assumed role", extra={"role_arn": access.role_arn, "session_name": self._session_name})
        return credentials


_THROTTLING = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "TooManyRequestsException",
}
_TRANSIENT = {
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "TableInUseException",
    "BackupInUseException",
    "ExpiredTokenException",
    "ExpiredToken",
    "RequestExpired",
}
_NOT_FOUND = {"TableNotFoundException", "ResourceNotFoundException"}
_DENIED = {"AccessDeniedException", "AccessDenied", "UnrecognizedClientException", "InvalidClientTokenId"}


_ERROR_FOR_CODE: dict[str, type[DdbkeeperError]] = {
    **dict.fromkeys(_THROTTLING, Throttled),
    "LimitExceededException": BackupLimitExceeded,
    **dict.fromkeys(_TRANSIENT, TransientAwsError),
    **dict.fromkeys(_NOT_FOUND, TableNotFound),
    **dict.fromkeys(_DENIED, AccessDenied),
    "ValidationException": InvalidInput,
    "PointInTimeRecoveryUnavailableException": InvalidInput,
}


def domain_error(error: ClientError, operation: str, resource: str) -> DdbkeeperError:
    """Name an AWS error in the workflows' vocabulary (see ddbkeeper.errors); any unnamed 5xx is transient."""
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "") or str(error)
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    kind = _ERROR_FOR_CODE.get(code) or (TransientAwsError if status >= 500 else AwsError)
    return kind(f"{operation} {resource}: {code}: {message}")


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


@contextmanager
def translate_errors(operation: str, resource: str) -> Iterator[None]:
    """Let domain errors through; turn botocore's into domain errors naming the operation and the resource."""
    try:
        yield
    except ClientError as error:
        raise domain_error(error, operation, resource) from error
    except NoCredentialsError as error:
        raise AccessDenied(f"{operation} {resource}: no AWS credentials found") from error
    except (ConnectionError, HTTPClientError) as error:  # refused, reset, closed early, timed out: try again
        raise TransientAwsError(f"{operation} {resource}: {error}") from error
    except BotoCoreError as error:
        raise AwsError(f"{operation} {resource}: {error}") from error


def describe(client: Client, table: str) -> dict[str, Any] | None:
    """DescribeTable's `Table`, or None when there is no such table."""
    try:
        with translate_errors("DescribeTable", table):
            description: dict[str, Any] = client.describe_table(TableName=table)["Table"]
            return description
    except TableNotFound:
        return None


def pitr_description(client: Client, table: str) -> dict[str, Any]:
    """DescribeContinuousBackups' PointInTimeRecoveryDescription: status and restorable window ({} when absent)."""
    with translate_errors("DescribeContinuousBackups", table):
        described = client.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    pitr: dict[str, Any] = described.get("PointInTimeRecoveryDescription", {})
    return pitr


def pitr_on(pitr: dict[str, Any]) -> bool:
    return pitr.get("PointInTimeRecoveryStatus") in ("ENABLED", "ENABLING")


def ttl_attribute(client: Client, table: str) -> str | None:
    """The attribute TTL expires items by, when TTL is on or turning on."""
    with translate_errors("DescribeTimeToLive", table):
        ttl = client.describe_time_to_live(TableName=table).get("TimeToLiveDescription", {})
    return ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") else None
