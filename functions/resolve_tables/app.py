"""Validate the backup request and resolve which tables it covers (the workflow's first step)."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from ddbkeeper.backup import backup_name, dynamodb_for, resolve_tables
from ddbkeeper.models import BackupRequest, Execution, parse

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(BackupRequest, event.get("request"))
    execution = parse(Execution, event.get("execution"), root="execution")
    dynamodb = dynamodb_for(request, execution)
    tables = resolve_tables(dynamodb, request.tables or [], request.selector, dynamodb.meta.region_name)
    for table in tables:  # reject names too long for DynamoDB before any backup starts
        backup_name(request.backup_name_prefix, table, execution.stamp())
    logger.info("tables resolved", extra={"tables": tables})
    return {
        "request": request.model_dump(mode="json"),
        "execution": execution.model_dump(mode="json"),
        "tables": tables,
    }
