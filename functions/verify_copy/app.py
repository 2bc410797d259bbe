"""Compare source and target after a copy (count or checksum, parallel scans); a mismatch is VerificationFailed."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from ddbkeeper.copier import sides, verify_copy
from ddbkeeper.copy_models import CopyTask
from ddbkeeper.models import parse

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = parse(CopyTask, event)
    source, target = sides(task)
    result = verify_copy(source, target, task.request.verify, int(event.get("total_segments", 1)))
    logger.info("copy verified", extra=result)
    return result
