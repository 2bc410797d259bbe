"""The backup report, a pure function of the Map's per-table results."""

from __future__ import annotations

from typing import Any

import pytest
from ddbkeeper.backup.models import BackupRun, TableResult
from ddbkeeper.backup.report import backup_report
from ddbkeeper.models import parse

from tests.support import load_event

pytestmark = pytest.mark.pure
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/backup/01795337200123-0f3c9a1e"


def results(*raw: dict[str, Any]) -> list[TableResult]:
    return [TableResult.model_validate(result) for result in raw]


def test_report_from_the_sample_event_names_each_outcome() -> None:
    run = parse(BackupRun, load_event("backup_report.json"))

    report = backup_report(run.results, dry_run=False)

    assert report.status == "FAILED"
    assert report.totals.model_dump() == {
        "tables": 2,
        "succeeded": 1,
        "failed": 1,
        "backups_created": 1,
        "backups_would_create": 0,
        "backups_deleted": 1,
        "backups_would_delete": 0,
    }
    orders, customers = report.tables
    assert orders.backup_name == "ddbkeeper-orders-20261122T030000123Z"
    assert orders.deleted == ["ddbkeeper-orders-20261120T030000087Z"]
    assert customers.error == "TableNotFound"
    assert customers.cause == "CreateBackup customers: TableNotFoundException: Table not found: customers"
    assert report.summary == (
        "1 of 2 tables backed up; failed: customers: TableNotFound: "
        "CreateBackup customers: TableNotFoundException: Table not found: customers"
    )


def test_a_reused_backup_is_not_counted_as_created() -> None:
    report = backup_report(
        results(
            {
                "table": "orders",
                "status": "SUCCEEDED",
                "backup": {"arn": ARN, "name": "n", "status": "AVAILABLE", "reused": True},
                "retention": {"table": "orders", "kept": 1},
            }
        ),
        dry_run=False,
    )
    assert report.status == "SUCCEEDED"
    assert report.totals.backups_created == 0
    assert report.summary == "1 of 1 tables backed up"


def test_a_dry_run_counts_the_backups_it_would_take() -> None:
    report = backup_report(
        results(
            {
                "table": "orders",
                "status": "SUCCEEDED",
                "backup": {"arn": None, "name": "ddbkeeper-orders-1", "status": "PLANNED"},
                "retention": {"table": "orders", "kept": 1, "would_delete": ["old"], "dry_run": True},
            }
        ),
        dry_run=True,
    )
    assert (report.totals.backups_created, report.totals.backups_would_create) == (0, 1)
    assert report.totals.backups_would_delete == 1
    assert report.summary == "dry run: 1 of 1 tables would be backed up"


def test_a_failure_with_a_plain_cause_keeps_it() -> None:
    result = {
        "table": "t",
        "status": "FAILED",
        "error": "BackupNotAvailable",
        "cause": "backup b is DELETED after 3 polls",
    }
    line = backup_report(results(result), dry_run=True).tables[0]
    assert line.cause == "backup b is DELETED after 3 polls"
