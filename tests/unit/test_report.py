from __future__ import annotations

from ddbkeeper.report import backup_report

from tests.support import load_event


def test_report_from_the_sample_event_names_each_outcome() -> None:
    event = load_event("backup_report.json")

    report = backup_report(event["results"], dry_run=False)

    assert report["status"] == "FAILED"
    assert report["totals"] == {
        "tables": 2,
        "succeeded": 1,
        "failed": 1,
        "backups_created": 1,
        "backups_deleted": 1,
        "backups_would_delete": 0,
    }
    orders, customers = report["tables"]
    assert orders["backup_name"] == "ddbkeeper-orders-20261122T030000123Z"
    assert orders["deleted"] == ["ddbkeeper-orders-20261120T030000087Z"]
    assert customers["error"] == "TableNotFound"
    assert customers["cause"] == "CreateBackup customers: TableNotFoundException: Table not found: customers"
    assert report["summary"] == (
        "1 of 2 tables backed up; failed: customers: TableNotFound: "
        "CreateBackup customers: TableNotFoundException: Table not found: customers"
    )


def test_a_reused_backup_is_not_counted_as_created() -> None:
    result = {
        "table": "orders",
        "status": "SUCCEEDED",
        "backup": {"arn": "a", "name": "n", "status": "AVAILABLE", "reused": True},
        "retention": {"kept": 1, "deleted": [], "would_delete": [], "deferred": []},
    }
    report = backup_report([result], dry_run=False)
    assert report["status"] == "SUCCEEDED"
    assert report["totals"]["backups_created"] == 0
    assert report["summary"] == "1 of 1 tables backed up"


def test_a_failure_with_a_plain_cause_keeps_it() -> None:
    result = {
        "table": "t",
        "status": "FAILED",
        "error": "BackupNotAvailable",
        "cause": "backup b is DELETED after 3 polls",
    }
    line = backup_report([result], dry_run=True)["tables"][0]
    assert line["cause"] == "backup b is DELETED after 3 polls"
