"""Where the scratch table's restore stands; once ACTIVE it is tagged as the drill's and the restore timed (RTO). For
an export chain each turn applies exports into it until little Lambda time is left, and returns the position."""

import os

from ddbkeeper.drill.models import CheckScratch, ScratchRestore
from ddbkeeper.drill.service import DrillService
from ddbkeeper.handler import LambdaContext, logger, workflow_step


@workflow_step
def lambda_handler(task: CheckScratch, context: LambdaContext) -> ScratchRestore:
    logger.thread_safe_append_keys(table=task.table.table, scratch=task.table.scratch_table)
    return DrillService.for_task(task, os.environ).check(
        task.table, task.restore, lambda: context.get_remaining_time_in_millis() / 1000
    )
