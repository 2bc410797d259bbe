"""Sessions per account and the one translation of AWS errors into the workflows' error names."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from ddbkeeper import errors
from ddbkeeper.aws import AccountAccess, SessionFactory, domain_error, translate_errors
from moto import mock_aws


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "boom"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op"
    )


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ProvisionedThroughputExceededException", 400, errors.Throttled),
        ("ThrottlingException", 400, errors.Throttled),
        ("RequestLimitExceeded", 400, errors.Throttled),
        ("LimitExceededException", 400, errors.BackupLimitExceeded),
        ("InternalServerError", 500, errors.TransientAwsError),
        ("SomethingNew", 503, errors.TransientAwsError),
        ("TableInUseException", 400, errors.TransientAwsError),
        ("ExpiredTokenException", 400, errors.TransientAwsError),
        ("TableNotFoundException", 400, errors.TableNotFound),
        ("ResourceNotFoundException", 400, errors.TableNotFound),
        ("AccessDeniedException", 400, errors.AccessDenied),
        ("AccessDenied", 403, errors.AccessDenied),
        ("ValidationException", 400, errors.InvalidInput),
        ("BackupNotFoundException", 400, errors.AwsError),
    ],
)
def test_aws_codes_map_to_domain_errors(code: str, status: int, expected: type[errors.DdbkeeperError]) -> None:
    error = domain_error(client_error(code, status), "CreateBackup", "orders")
    assert type(error) is expected
    assert str(error) == f"CreateBackup orders: {code}: boom"
    assert error.retryable == (type(error).__name__ in errors.RETRYABLE)


def test_translate_errors_covers_botocore_failures() -> None:
    with pytest.raises(errors.TransientAwsError, match="ListTables x"), translate_errors("ListTables", "x"):
        raise EndpointConnectionError(endpoint_url="http://nowhere")
    with pytest.raises(errors.AccessDenied, match="no AWS credentials"), translate_errors("ListTables", "x"):
        raise NoCredentialsError()
    with pytest.raises(errors.TableNotFound), translate_errors("DescribeTable", "x"):
        raise client_error("ResourceNotFoundException")


@mock_aws
def test_a_role_reaches_another_account_and_ambient_credentials_stay_home() -> None:
    factory = SessionFactory(session_name="backup-run/with:odd chars")
    home = factory.client("dynamodb", AccountAccess(region="us-east-1"))
    other = factory.client(
        "dynamodb", AccountAccess(region="eu-west-1", role_arn="arn:aws:iam::222222222222:role/r", external_id="x1")
    )
    other.create_table(
        TableName="ledger",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    arn = other.describe_table(TableName="ledger")["Table"]["TableArn"]
    assert arn == "arn:aws:dynamodb:eu-west-1:222222222222:table/ledger"
    assert home.list_tables()["TableNames"] == []
    assert boto3.client("dynamodb", region_name="eu-west-1").list_tables()["TableNames"] == []


def test_a_missing_region_is_invalid_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(errors.InvalidInput, match="region"):
        SessionFactory().client("dynamodb", AccountAccess())


def test_threads_sharing_a_factory_get_one_client_built_once() -> None:
    """A copy's verification scans both tables from several threads with one factory: boto3 sessions must not build
    clients from two threads at once, and each client is built once."""
    built: list[str] = []

    class Session:
        region_name = "us-east-1"

        def client(self, service: str, **_: object) -> object:
            built.append(service)
            time.sleep(0.01)  # long enough for the other threads to arrive while this one builds
            return object()

    factory = SessionFactory(base_session=Session())  # type: ignore[arg-type]
    with ThreadPoolExecutor(max_workers=8) as pool:
        clients = list(pool.map(lambda _: factory.client("dynamodb", AccountAccess()), range(16)))

    assert built == ["dynamodb"]
    assert len({id(client) for client in clients}) == 1


def test_an_endpoint_that_does_not_resolve_is_not_retried_but_a_refused_one_is() -> None:
    """A region or endpoint that does not exist will not start existing: fail at once, not after minutes of retries."""
    options = {
        "aws_access_key_id": "a",
        "aws_secret_access_key": "b",
        "config": Config(retries={"total_max_attempts": 1}),
    }
    nowhere = boto3.client("dynamodb", region_name="us-east-1", endpoint_url="http://no-such-host.invalid:1", **options)
    with pytest.raises(errors.AwsError, match="does not resolve"), translate_errors("ListTables", "*"):
        nowhere.list_tables()
    refused = boto3.client("dynamodb", region_name="us-east-1", endpoint_url="http://127.0.0.1:1", **options)
    with pytest.raises(errors.TransientAwsError), translate_errors("ListTables", "*"):
        refused.list_tables()
