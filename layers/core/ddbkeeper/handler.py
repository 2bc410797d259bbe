"""What every Lambda handler shares, in one decorator: Powertools observability and the step's models.

functions/start_export/app.py, for one (`for_task` gets the function's environment, the only configuration it reads):

    @workflow_step
    def lambda_handler(task: StartExport, context: LambdaContext) -> ExportProgress:
        return ExportService.for_task(task, environment).start(task.plan)

The event is parsed into the model the handler's first parameter names (a bad event is `InvalidInput` naming each
field), and the model the handler returns goes back to Step Functions as JSON. Around it: the Logger with the Lambda
context (state cleared per invocation), the Tracer's handler segment, and the Metrics flushed at the end.
"""

from __future__ import annotations

import inspect
import typing
import warnings
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.middleware_factory import lambda_handler_decorator
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from ddbkeeper.models import parse

logger = Logger()
tracer = Tracer()
metrics = Metrics()

# A step that only reads (a poll, a plan) has no metric to publish: that is expected, not worth a warning.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

Handler = Callable[[Any, LambdaContext], BaseModel]


def step_models(handler: Handler) -> tuple[type[BaseModel], type[BaseModel]]:
    """The models a handler reads and returns, from its annotations (the ASL path test reads them too)."""
    hints = typing.get_type_hints(handler)
    first = next(iter(inspect.signature(handler).parameters))
    return hints[first], hints["return"]


@lambda_handler_decorator
def workflow_step(handler: Handler, event: Any, context: LambdaContext) -> dict[str, Any]:
    task_model, _ = step_models(handler)

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def observed(event: Any, context: LambdaContext) -> dict[str, Any]:
        result = handler(parse(task_model, event), context)
        return result.model_dump(mode="json")

    response: dict[str, Any] = observed(event, context)
    return response


__all__ = ["LambdaContext", "logger", "metrics", "tracer", "workflow_step"]
