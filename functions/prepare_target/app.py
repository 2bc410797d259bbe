"""One step towards an ACTIVE target table (drop for recreate, create, wait); the state machine loops until READY."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from ddbkeeper.copier import prepare_target, sides
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
    _, target = sides(task)
    return prepare_target(target.control(), task.request.mode, event["target_spec"], event.get("prepare") or {})
