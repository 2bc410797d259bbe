"""Summarise a backup run: each table's outcome, totals, and the run's metrics."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from ddbkeeper.models import BackupRun, parse
from ddbkeeper.report import backup_report

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = parse(BackupRun, event)
    report = backup_report(run.results, dry_run=run.request.dry_run)
    metrics.add_metric(name="BackupFailures", unit=MetricUnit.Count, value=report["totals"]["failed"])
    logger.info("backup run finished", extra={"totals": report["totals"]})
    return report
