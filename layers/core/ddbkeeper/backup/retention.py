"""Which backups a retention policy keeps: a pure decision, no AWS calls.

Only AVAILABLE backups take part in the rules; any other backup (CREATING, ...) is kept with the reason "not available",
since it cannot be deleted yet. Backups are ordered newest first by creation time, ties broken by ARN.

- `min_keep` newest backups are always kept (at least 1: the newest backup is never deleted).
- Count rules: `keep_last` N newest; `daily`, `weekly`, `monthly`, `yearly` N: group by UTC day, ISO week, month or
  year, take the N most recent periods that *have* backups (restic/borg style, not "the last N calendar days"), and keep
  the newest backup of each.
- `max_age_days`: a backup older than that is deleted even when a count rule selects it; only `min_keep` protects it.
  With no count rule set, every backup not too old is kept.
- Deletable backups go oldest first; the first `max_deletions` are deleted, the rest deferred to the next run.

Deciding again on the kept backups deletes nothing (with no cap): the N most recent periods of the kept set are the same
periods, with the same newest backup in each.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

AVAILABLE = "AVAILABLE"

_PERIODS: dict[str, Callable[[datetime], Hashable]] = {
    "daily": lambda t: t.strftime("%Y-%m-%d"),
    "weekly": lambda t: "{}-W{:02d}".format(*t.isocalendar()[:2]),
    "monthly": lambda t: t.strftime("%Y-%m"),
    "yearly": lambda t: t.strftime("%Y"),
}


@dataclass(frozen=True)
class BackupInfo:
    arn: str
    name: str
    created: datetime  # timezone-aware
    status: str = AVAILABLE
    size_bytes: int | None = None


@dataclass(frozen=True)
class KeptBackup:
    backup: BackupInfo
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class RetentionDecision:
    keep: tuple[KeptBackup, ...]  # newest first
    delete: tuple[BackupInfo, ...]  # oldest first, at most max_deletions
    deferred: tuple[BackupInfo, ...]  # deletable, but over the per-run cap


@dataclass(frozen=True)
class RetentionPolicy:
    keep_last: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    max_age_days: int | None = None
    min_keep: int = 1
    max_deletions: int | None = None

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name in ("max_age_days", "max_deletions"):
                _check_int(field.name, value, minimum=1, optional=True)
            else:
                _check_int(field.name, value, minimum=1 if field.name == "min_keep" else 0)
        if not self._count_rules() and self.max_age_days is None:
            raise ValueError("retention: give at least one of keep_last, daily, weekly, monthly, yearly, max_age_days")

    def _count_rules(self) -> dict[str, int]:
        rules = {"keep_last": self.keep_last, **{period: getattr(self, period) for period in _PERIODS}}
        return {name: count for name, count in rules.items() if count}

    def decide(self, backups: Iterable[BackupInfo], now: datetime) -> RetentionDecision:
        _check_aware("now", now)
        ordered = sorted(backups, key=lambda b: (_check_aware(b.name, b.created), b.arn), reverse=True)
        available = [backup for backup in ordered if backup.status == AVAILABLE]
        reasons: dict[str, list[str]] = {backup.arn: [] for backup in ordered}
        for backup in ordered:
            if backup.status != AVAILABLE:
                reasons[backup.arn].append("not available")

        too_old = set()
        if self.max_age_days is not None:
            limit = now - timedelta(days=self.max_age_days)
            too_old = {backup.arn for backup in available if backup.created < limit}

        selected: dict[str, list[str]] = {backup.arn: [] for backup in available}
        rules = self._count_rules()
        if "keep_last" in rules:
            for backup in available[: rules["keep_last"]]:
                selected[backup.arn].append("keep_last")
        for period, key in _PERIODS.items():
            for label, backup in _newest_per_period(available, key, rules.get(period, 0)):
                selected[backup.arn].append(f"{period} {label}")
        if not rules:
            for backup in available:
                selected[backup.arn].append("within max_age")

        for backup in available[: self.min_keep]:
            reasons[backup.arn].append("min_keep")
        for backup in available:
            if backup.arn not in too_old:
                reasons[backup.arn].extend(selected[backup.arn])

        keep = tuple(KeptBackup(backup, tuple(reasons[backup.arn])) for backup in ordered if reasons[backup.arn])
        deletable = [backup for backup in reversed(ordered) if not reasons[backup.arn]]
        cap = len(deletable) if self.max_deletions is None else self.max_deletions
        return RetentionDecision(keep=keep, delete=tuple(deletable[:cap]), deferred=tuple(deletable[cap:]))


def _newest_per_period(
    newest_first: list[BackupInfo], key: Callable[[datetime], Hashable], count: int
) -> list[tuple[Hashable, BackupInfo]]:
    chosen: dict[Hashable, BackupInfo] = {}
    for backup in newest_first:
        if len(chosen) >= count:
            break
        chosen.setdefault(key(backup.created), backup)
    return list(chosen.items())


def _check_int(name: str, value: object, minimum: int, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"retention.{name}: expected an integer >= {minimum}{' or null' if optional else ''}, got {value!r}"
        )


def _check_aware(what: str, moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what}: expected a timezone-aware datetime, got {moment.isoformat()}")
    return moment
