"""How this service names its backups, and how retention recognises them: <prefix>-<table>-<yyyymmddThhmmssfffZ>.

The stamp is the execution's start in UTC to the millisecond, so a retried step finds the backup it already started
and two runs never share a name; DynamoDB allows 255 characters. Shared: the backup workflow names its backups so, and
the copy names the backup it takes of a target before dropping it so, which puts that backup under retention's rules.
"""

from __future__ import annotations

import re

from ddbkeeper.errors import InvalidInput

BACKUP_NAME_MAX = 255


def backup_name(prefix: str, table: str, stamp: str, field: str = "backup_name_prefix") -> str:
    """The name; too long for DynamoDB is InvalidInput naming `field`, the request's part that made it so."""
    name = f"{prefix}-{table}-{stamp}"
    if len(name) > BACKUP_NAME_MAX:
        raise InvalidInput(
            f"{field}: the backup name '{name}' would be longer than {BACKUP_NAME_MAX} characters; "
            "use a shorter prefix or table name"
        )
    return name


def own_backup_pattern(prefix: str, table: str) -> re.Pattern[str]:
    """Names this service gives its backups of `table`: anything else is never touched by retention."""
    return re.compile(rf"^{re.escape(prefix)}-{re.escape(table)}-\d{{8}}T\d{{9}}Z$")
