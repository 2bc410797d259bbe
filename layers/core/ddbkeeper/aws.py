"""AWS access: the accounts a step acts in, and the one place that turns AWS errors into domain errors."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import boto3
import botocore.loaders
import botocore.session
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
    TableLimitExceeded,
    TableNotFound,
    Throttled,
    TransientAwsError,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sts.type_defs import CredentialsTypeDef

logger = Logger(child=True)

# Control-plane calls: botocore's standard retry mode absorbs short throttling; longer trouble surfaces as a domain
# error that the state machine retries with its own backoff.
CONTROL_PLANE_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5}, user_agent_extra=f"ddbkeeper/{__version__}"
)
# The data path sees every throttle itself (no SDK retries) so that its limiter can adapt; the waits are its own.
DATA_PLANE_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1},
    user_agent_extra=f"ddbkeeper/{__version__}",
    max_pool_connections=64,  # a segment keeps up to 32 writes and a read ahead on the wire
    read_timeout=30,
)

# botocore's service models and endpoint data, read from disk once per process and shared by every session: each
# invocation builds its own session (credentials are per invocation), and a fresh session otherwise reads and parses
# the same JSON files again (most of the CPU of a short local run). The loader only caches what it has read.
_loaders: dict[str | None, botocore.loaders.Loader] = {}  # by AWS_DATA_PATH, as a session would build its own
_loaders_lock = threading.Lock()


def new_session(**credentials: Any) -> boto3.Session:
    """A boto3 session that resolves credentials, region and endpoints the standard way, with the shared loader."""
    core = botocore.session.Session()
    data_path = core.get_config_variable("data_path")
    with _loaders_lock:
        if data_path not in _loaders:
            _loaders[data_path] = botocore.loaders.create_loader(data_path)
        core.register_component("data_loader", _loaders[data_path])
    return boto3.Session(botocore_session=core, **credentials)


# Session names allow [\w+=,.@-] and at most 64 characters.
_SESSION_NAME_UNSAFE = re.compile(r"[^\w+=,.@-]")


@dataclass(frozen=True)
class AccountAccess:
    """How to reach one account and region: an optional role to assume, else the ambient credentials."""

    region: str | None = None
    role_arn: str | None = None
    external_id: str | None = None

    def in_region(self, region: str | None) -> AccountAccess:
        """The same account (and role) in another region; None keeps this one's."""
        return AccountAccess(region or self.region, self.role_arn, self.external_id)


class SessionFactory:
    """Builds boto3 clients for an `AccountAccess`, assuming the role when one is given.

    One factory serves one invocation: each role is assumed once and each client built once, then reused. Endpoints
    and ambient credentials resolve the standard way (AWS_PROFILE, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_DYNAMODB...):
    nothing here redirects them, which is what lets the same code act on AWS, moto or any DynamoDB-compatible server.

    Threads may share a factory (a copy's verification scans both tables from several threads at once): a boto3
    Session must not build clients from two threads at a time, so building and forgetting take turns.
    """

    def __init__(self, session_name: str = "ddbkeeper", base_session: boto3.Session | None = None) -> None:
        self.session_name = _SESSION_NAME_UNSAFE.sub("-", session_name)[:64] or "ddbkeeper"
        self._base = base_session or new_session()
        self._credentials: dict[AccountAccess, CredentialsTypeDef] = {}
        self._clients: dict[tuple[str, AccountAccess, int], Any] = {}
        self._lock = threading.Lock()

    def region(self, access: AccountAccess) -> str:
        region = access.region or self._base.region_name
        if not region:
            raise InvalidInput("region: no region given and none configured (set AWS_DEFAULT_REGION or pass region)")
        return region

    def client(self, service: str, access: AccountAccess, config: Config = CONTROL_PLANE_CONFIG) -> Any:
        """A client of `service` acting with `access`; the same one for the same arguments until `forget`."""
        key = (service, access, id(config))
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._build(service, access, config)
            return self._clients[key]

    def dynamodb(self, access: AccountAccess, config: Config = CONTROL_PLANE_CONFIG) -> DynamoDBClient:
        client: DynamoDBClient = self.client("dynamodb", access, config)
        return client

    def s3(self, access: AccountAccess) -> S3Client:
        client: S3Client = self.client("s3", access)
        return client

    def forget(self, access: AccountAccess) -> None:
        """Drop the role's credentials and every client built with them: the next call assumes the role again."""
        with self._lock:
            self._credentials.pop(access, None)
            self._clients = {key: client for key, client in self._clients.items() if key[1] != access}

    def _build(self, service: str, access: AccountAccess, config: Config) -> Any:
        region = self.region(access)
        if not access.role_arn:
            return self._base.client(service, region_name=region, config=config)
        if access not in self._credentials:
            self._credentials[access] = self._assume(access, region)
        credentials = self._credentials[access]
        session = new_session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        return session.client(service, region_name=region, config=config)

    def _assume(self, access: AccountAccess, region: str) -> CredentialsTypeDef:
        sts = self._base.client("sts", region_name=region, config=CONTROL_PLANE_CONFIG)
        params: dict[str, Any] = {"RoleArn": access.role_arn, "RoleSessionName": self.session_name}
        if access.external_id:
            params["ExternalId"] = access.external_id
        with translate_errors("AssumeRole", str(access.role_arn)):
            credentials: CredentialsTypeDef = sts.assume_role(**params)["Credentials"]
        logger.debug("assumed role", extra={"role_arn": access.role_arn, "session_name": self.session_name})
        return credentials


def local_client(service: str, endpoint: str) -> Any:
    """A client of the embedded runtime's own server (it takes any credentials): what it hosts for the workflows, such
    as a copy's board, stays there whatever endpoint the data is on."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="ddbkeeper-local",
        aws_secret_access_key="ddbkeeper-local",  # noqa: S106 - not a secret: the embedded server takes any
        config=CONTROL_PLANE_CONFIG,
    )


class Account:
    """One account and region as a step acts in it: its clients are built on first use, then reused."""

    def __init__(self, factory: SessionFactory, access: AccountAccess) -> None:
        self.factory = factory
        self.access = access

    @cached_property
    def region(self) -> str:
        return self.factory.region(self.access)

    @property
    def dynamodb(self) -> DynamoDBClient:
        return self.factory.dynamodb(self.access)

    @property
    def s3(self) -> S3Client:
        return self.factory.s3(self.access)

    def in_region(self, region: str | None) -> Account:
        return Account(self.factory, self.access.in_region(region))


_THROTTLING = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "SlowDown",
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
EXPIRED_CODES = {"ExpiredTokenException", "ExpiredToken", "RequestExpired"}

_ERROR_FOR_CODE: dict[str, type[DdbkeeperError]] = {
    **dict.fromkeys(_THROTTLING, Throttled),
    **dict.fromkeys(_TRANSIENT, TransientAwsError),
    **dict.fromkeys(_NOT_FOUND, TableNotFound),
    **dict.fromkeys(_DENIED, AccessDenied),
    "ValidationException": InvalidInput,
    "PointInTimeRecoveryUnavailableException": InvalidInput,
}


def domain_error(error: ClientError, operation: str, resource: str) -> DdbkeeperError:
    """Name an AWS error in the workflows' vocabulary (see ddbkeeper.errors); any unnamed 5xx is transient.

    DynamoDB answers LimitExceededException both to too many backups at once and to too many table operations at
    once (CreateTable, UpdateTable, DeleteTable, restores, imports, exports): the operation tells which.
    """
    code = error_code(error)
    message = error.response.get("Error", {}).get("Message", "") or str(error)
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code == "LimitExceededException":
        kind: type[DdbkeeperError] = BackupLimitExceeded if "Backup" in operation else TableLimitExceeded
    else:
        kind = _ERROR_FOR_CODE.get(code) or (TransientAwsError if status >= 500 else AwsError)
    return kind(f"{operation} {resource}: {code}: {message}")


def _unresolvable(error: BaseException) -> bool:
    """Whether a connection failed because the host name does not resolve (DNS says no such name)."""
    seen: BaseException | None = error
    for _ in range(10):  # the cause chain botocore and urllib3 build is a few links long
        if seen is None:
            return False
        if isinstance(seen, socket.gaierror):
            return True
        wrapped = getattr(seen, "kwargs", {}).get("error")
        seen = wrapped if isinstance(wrapped, BaseException) else (seen.__cause__ or seen.__context__)
    return False


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
    except (ConnectionError, HTTPClientError) as error:
        if _unresolvable(error):  # no such host: a region or endpoint that does not exist will not start existing
            message = f"{operation} {resource}: the endpoint does not resolve ({error}); check the region"
            raise AwsError(message) from error
        raise TransientAwsError(f"{operation} {resource}: {error}") from error  # refused, reset, timed out: try again
    except BotoCoreError as error:
        raise AwsError(f"{operation} {resource}: {error}") from error
