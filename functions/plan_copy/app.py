"""Validate a copy request and plan it: check both tables, refuse what is unsafe, choose segments, spec the target."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from ddbkeeper.aws import SessionFactory
from ddbkeeper.copier import plan_copy
from ddbkeeper.copy_models import CopyRequest
from ddbkeeper.models import Execution, parse

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse(CopyRequest, event.get("request"))
    execution = parse(Execution, event.get("execution"), root="execution")
    plan = plan_copy(request, SessionFactory(session_name=f"ddbkeeper-{execution.name}"))
    logger.info("copy planned", extra={"segments": plan["total_segments"], "source": plan["source_arn"]})
    return {
        "request": request.model_dump(mode="json"),
        "execution": execution.model_dump(mode="json"),
        "plan": plan,
        "prepare": {"phase": "START", "polls": 0},
    }
