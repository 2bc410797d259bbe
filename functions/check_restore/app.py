"""Where the restore stands: CREATING, ACTIVE (table, indexes and import all done) or FAILED with the reason."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from ddbkeeper.models import parse
from ddbkeeper.restore import restore_service
from ddbkeeper.restore_models import RestoreTask

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = parse(RestoreTask, event)
    logger.thread_safe_append_keys(target=task.request.target.table)
    service, _ = restore_service(task)
    return service.check(event["plan"], event["restore"])
