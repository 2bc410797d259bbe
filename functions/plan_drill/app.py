"""Validate a drill request, select the tables and choose each one's recovery point; creates nothing."""

import os

from ddbkeeper.drill.models import DrillTask, PlannedDrill
from ddbkeeper.drill.service import DrillService
from ddbkeeper.handler import LambdaContext, workflow_step


@workflow_step
def lambda_handler(task: DrillTask, context: LambdaContext) -> PlannedDrill:
    return DrillService.for_task(task, os.environ).plan()
