"""Resuming a `create` copy whose run was interrupted: the target that run created is this run's own.

A copy marks the table it creates with the stack's name and the execution's (`ddbkeeper.copy.target`). A run that
continues an interrupted one names it in `resumes`: the table is then made, and adopted, under that name, so any number
of resumes in a row continue one table, and a table anybody else made (a person, another copy, another stack) is still
`TargetExists`.
"""

from __future__ import annotations

from ddbkeeper.copy.models import CopyRequest
from ddbkeeper.copy.target import EXECUTION, MANAGED_BY
from ddbkeeper.errors import TargetExists
from ddbkeeper.models import Execution


def owner(request: CopyRequest, execution: Execution) -> str:
    """The execution name the target carries: the interrupted run's when this one resumes it, else this one's."""
    return request.resumes or execution.name


def owns(tags: dict[str, str], request: CopyRequest, execution: Execution, stack_name: str) -> bool:
    """Whether the table with these tags is this copy's: made by this execution, or by the run it resumes (and then by
    this stack: another stack's copy may have run under the same execution name)."""
    if request.resumes is None:
        return tags.get(EXECUTION) == execution.name
    return tags.get(EXECUTION) == request.resumes and tags.get(MANAGED_BY) == stack_name


def check_adoptable(tags: dict[str, str], request: CopyRequest, stack_name: str, table: str) -> None:
    """Plan Copy's check of an existing target when a create resumes: only the resumed run's table will do."""
    if request.resumes is not None and not (
        tags.get(EXECUTION) == request.resumes and tags.get(MANAGED_BY) == stack_name
    ):
        made_by = tags.get(EXECUTION, "nobody this stack knows")
        raise TargetExists(
            f"target.table: {table} exists and was not created by the run this one resumes ({request.resumes}) of "
            f"stack {stack_name} (its {EXECUTION} tag: {made_by}); not writing into it"
        )
