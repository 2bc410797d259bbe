"""Verifying a copy, segment by segment: each parallel-scan segment of both tables is tallied (count, or count and the
order-free sum of the items' digests) by its own loop of Lambda calls in the verify Map, so a table of any size is
verified; the segments' tallies add up, and `verdict` compares them side by side and per segment.

A segment's tally holds each side's scan position: a Verify Segment call that runs short of time returns it, and the
next call goes on from there (as Copy Segment does). Both tables are cut into the same segments: DynamoDB (and moto,
and dynalite) assigns an item to a segment by its partition key, so equal tables have equal segments.

An append's verification: every source item is in the target exactly as written.

Counting or summing both tables cannot verify an append: the target had items of its own before, so the tables differ
by design. Instead the source is scanned (parallel segments, wire form) and each page's items are read back from the
target by key with BatchGetItem (consistent reads, 100 keys a call, UnprocessedKeys re-sent under the data path's
retry policy), and each pair is compared by the digest of its canonical encoding. The target's other items are its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from ddbkeeper.copy.models import (
    AppendCheck,
    SegmentCheckpoint,
    SegmentTally,
    SegmentVerification,
    SideTally,
    Verification,
)
from ddbkeeper.errors import InvalidInput
from ddbkeeper.pacing import Tuning, with_retries
from ddbkeeper.reads import KEYS_PER_CALL, read_items
from ddbkeeper.tables import TableSide
from ddbkeeper.wire import WireItem, WireTable, canonical, item_digest

EXAMPLES = 5  # keys named in a failed check, of each kind
NAMED_SEGMENTS = 20  # segments named in a message
DIGESTS = 2**256
VerifyHow = Literal["count", "checksum", "none"]
CONSISTENT_COPY = (
    "a Scan copy is not a snapshot: items written to the source while it runs may be copied or not; for a consistent "
    "copy, restore the export chain at a point in time (the restore workflow's export_chain source)"
)


@dataclass
class _Findings:
    checked: int = 0
    missing: int = 0
    different: int = 0
    digest: int = 0
    missing_keys: list[WireItem] = field(default_factory=list)
    different_keys: list[WireItem] = field(default_factory=list)

    def add(self, other: _Findings) -> None:
        self.checked += other.checked
        self.missing += other.missing
        self.different += other.different
        self.digest = (self.digest + other.digest) % 2**256
        self.missing_keys = (self.missing_keys + other.missing_keys)[:EXAMPLES]
        self.different_keys = (self.different_keys + other.different_keys)[:EXAMPLES]


def _compare(items: list[WireItem], target: TableSide, key_attributes: list[str], tuning: Tuning) -> _Findings:
    """Compare up to 100 source items with the target's items under the same keys."""
    keyed = {_key_id(item, key_attributes): item for item in items}
    there = read_items(target, [_key(item, key_attributes) for item in items], tuning)
    read = {_key_id(item, key_attributes): item for item in there}
    findings = _Findings(checked=len(items))
    for key_id, item in keyed.items():
        digest = item_digest(item)
        findings.digest = (findings.digest + digest) % 2**256
        written = read.get(key_id)
        if written is None:
            findings.missing += 1
            if len(findings.missing_keys) < EXAMPLES:
                findings.missing_keys.append(_key(item, key_attributes))
        elif item_digest(written) != digest:
            findings.different += 1
            if len(findings.different_keys) < EXAMPLES:
                findings.different_keys.append(_key(item, key_attributes))
    return findings


def _key(item: WireItem, key_attributes: list[str]) -> WireItem:
    return {name: item[name] for name in key_attributes}


def _key_id(item: WireItem, key_attributes: list[str]) -> bytes:
    return orjson.dumps(canonical(_key(item, key_attributes)), option=orjson.OPT_SORT_KEYS)


# --- distributed verification ---------------------------------------------------------------------------------------


class SegmentVerifier:
    """Tallies one segment of both tables (or reads an append's source segment back from the target), page by page,
    until the segment is done or `time_left()` runs short; returns the tally to go on from."""

    def __init__(
        self,
        source: TableSide,
        target: TableSide,
        how: VerifyHow,
        key_attributes: list[str] | None = None,
        *,
        append: bool = False,
        tuning: Tuning | None = None,
        reserve_seconds: float = 10.0,
    ) -> None:
        if append and not key_attributes:
            raise InvalidInput("key_attributes: an append is verified by reading each source item back by its key")
        self.source = source
        self.target = target
        self.how = how
        self.keys = key_attributes or []
        self.append = append
        self.tuning = tuning or Tuning()
        self.reserve_seconds = reserve_seconds

    def run(self, tally: SegmentTally, time_left: Callable[[], float]) -> SegmentTally:
        clock = self.tuning.clock
        state = tally.model_copy(update={"invocations": tally.invocations + 1})
        if self.how == "none":
            return state.model_copy(update={"done": True})
        if self.append and state.append is None:
            state = state.model_copy(update={"append": AppendCheck()})
        slowest = 0.0
        first = True
        while not state.done:
            # At least one page per call, then only while a slow page would still fit.
            if not first and time_left() < max(self.reserve_seconds, 2 * slowest):
                break
            first = False
            started = clock()
            if self.append:
                state = self._append_page(state)
            else:
                update: dict[str, Any] = {}
                if not state.source.done:
                    update["source"] = self._tally_page(self.source, state, state.source)
                if not state.target.done:
                    update["target"] = self._tally_page(self.target, state, state.target)
                state = state.model_copy(update=update)
            done = state.source.done and (self.append or state.target.done)
            state = state.model_copy(update={"done": done})
            slowest = max(slowest, clock() - started)
        return state

    def _page(self, side: TableSide, tally: SegmentTally, at: SideTally, select_count: bool) -> dict[str, Any]:
        def scan(wire: WireTable) -> dict[str, Any]:
            return wire.scan_page(
                tally.segment, tally.total_segments, at.exclusive_start_key, select_count=select_count, consistent=True
            )

        return with_retries(lambda: side.call("Scan", scan), self.tuning)

    def _tally_page(self, side: TableSide, tally: SegmentTally, at: SideTally) -> SideTally:
        checksum = self.how == "checksum"
        page = self._page(side, tally, at, select_count=not checksum)
        digest = at.digest
        if checksum:
            items = len(page["Items"])
            added = sum(item_digest(item) for item in page["Items"])
            digest = f"{(int(at.digest or '0', 16) + added) % DIGESTS:064x}"
        else:
            items = int(page.get("Count", 0))
        key = page.get("LastEvaluatedKey")
        return at.model_copy(
            update={
                "items": at.items + items,
                "digest": digest,
                "pages": at.pages + 1,
                "exclusive_start_key": key,
                "done": key is None,
            }
        )

    def _append_page(self, tally: SegmentTally) -> SegmentTally:
        page = self._page(self.source, tally, tally.source, select_count=False)
        items: list[WireItem] = page["Items"]
        found = _Findings()
        for begin in range(0, len(items), KEYS_PER_CALL):
            found.add(_compare(items[begin : begin + KEYS_PER_CALL], self.target, self.keys, self.tuning))
        before = tally.append or AppendCheck()
        check = AppendCheck(
            checked=before.checked + found.checked,
            missing=before.missing + found.missing,
            different=before.different + found.different,
            missing_keys=(before.missing_keys + found.missing_keys)[:EXAMPLES],
            different_keys=(before.different_keys + found.different_keys)[:EXAMPLES],
        )
        at = tally.source
        key = page.get("LastEvaluatedKey")
        digest = None
        if self.how == "checksum":
            digest = f"{(int(at.digest or '0', 16) + found.digest) % DIGESTS:064x}"
        source = at.model_copy(
            update={
                "items": at.items + len(items),
                "digest": digest,
                "pages": at.pages + 1,
                "exclusive_start_key": key,
                "done": key is None,
            }
        )
        return tally.model_copy(update={"source": source, "append": check})


@dataclass(frozen=True)
class Verdict:
    """What the tallies say: the verification, and why it failed (None: it did not)."""

    verification: Verification
    failure: str | None


def verdict(
    how: VerifyHow,
    tallies: list[SegmentTally],
    copied: list[SegmentCheckpoint],
    source_name: str,
    target_name: str,
    *,
    append: bool = False,
) -> Verdict:
    """Compare the segments' tallies: per segment and in total, and the source now with what the copy read from it.

    `copied`: the copy's final checkpoints (empty when not known). A source whose segments hold other numbers of items
    now than the copy read from them changed during the copy: a warning, and part of the failure when the tables differ.
    """
    if how == "none":
        return Verdict(Verification(verify="none"), None)
    tallies = _one_each(tallies)
    # A checkpoint that read no page says nothing of the source (a resume's `{"segment": n, "done": true}`).
    read = {checkpoint.segment: checkpoint.items for checkpoint in copied if checkpoint.pages}
    lines = []
    for tally in tallies:
        if append:
            differs = tally.append is not None and tally.append.failed()
        else:
            differs = tally.source.items != tally.target.items or tally.source.digest != tally.target.digest
        lines.append(
            SegmentVerification(
                segment=tally.segment,
                source_items=tally.source.items,
                target_items=None if append else tally.target.items,
                copied_items=read.get(tally.segment),
                differs=differs,
            )
        )
    differing = [line.segment for line in lines if line.differs]
    changed = [line for line in lines if line.copied_items is not None and line.copied_items != line.source_items]
    warnings = []
    if changed:
        copied_total = sum(line.copied_items or 0 for line in changed)
        now = sum(line.source_items for line in changed)
        warnings.append(
            f"the source changed during the copy: in {len(changed)} segment(s) ({_named([c.segment for c in changed])})"
            f" the copy read {copied_total} items and the source has {now} now; {CONSISTENT_COPY}"
        )
    checksum = how == "checksum"
    source = _total(t.source for t in tallies)
    verification = Verification(
        verify=how,
        items=source.items,
        digest=source.digest if checksum else None,
        segments=lines,
        differing_segments=differing,
        warnings=warnings,
    )
    if append:
        check = _merged([t.append or AppendCheck() for t in tallies])
        verification = verification.model_copy(update={"append": check, "items": check.checked})
        failure = _append_failure(check, source_name, target_name) if check.failed() else None
    else:
        target = _total(t.target for t in tallies)
        failure = None
        if differing or source.items != target.items or (checksum and source.digest != target.digest):
            failure = (
                f"{how} mismatch: source {source_name} has {_described(source, checksum)}, "
                f"target {target_name} has {_described(target, checksum)}; segments that differ: {_named(differing)}"
            )
    if failure is not None and warnings:
        failure = f"{failure}; {warnings[0]}"
    return Verdict(verification, failure)


def _one_each(tallies: list[SegmentTally]) -> list[SegmentTally]:
    """The tallies sorted by segment: each segment once, all of one cut, all done (else the input is not a verify Map's
    results)."""
    ordered = sorted(tallies, key=lambda t: t.segment)
    totals = {t.total_segments for t in ordered}
    if len(totals) != 1 or [t.segment for t in ordered] != list(range(ordered[0].total_segments)):
        raise InvalidInput("tallies: one per segment of one cut of the table, segments 0 to total_segments - 1")
    unfinished = [t.segment for t in ordered if not t.done]
    if unfinished:
        raise InvalidInput(f"tallies: segments {_named(unfinished)} are not done")
    return ordered


def _total(sides: Any) -> SideTally:
    items, digest = 0, 0
    for side in sides:
        items += side.items
        digest = (digest + int(side.digest or "0", 16)) % DIGESTS
    return SideTally(items=items, digest=f"{digest:064x}", done=True)


def _described(side: SideTally, checksum: bool) -> str:
    return f"{side.items} items" + (f", digest {(side.digest or '')[:16]}..." if checksum else "")


def _named(segments: list[int]) -> str:
    shown = ", ".join(str(s) for s in segments[:NAMED_SEGMENTS])
    return shown + (f" and {len(segments) - NAMED_SEGMENTS} more" if len(segments) > NAMED_SEGMENTS else "")


def _merged(checks: list[AppendCheck]) -> AppendCheck:
    return AppendCheck(
        checked=sum(c.checked for c in checks),
        missing=sum(c.missing for c in checks),
        different=sum(c.different for c in checks),
        missing_keys=[k for c in checks for k in c.missing_keys][:EXAMPLES],
        different_keys=[k for c in checks for k in c.different_keys][:EXAMPLES],
    )


def _append_failure(check: AppendCheck, source_name: str, target_name: str) -> str:
    examples = [
        f"{kind} e.g. {', '.join(json.dumps(key, sort_keys=True) for key in keys)}"
        for kind, keys in (("missing", check.missing_keys), ("different", check.different_keys))
        if keys
    ]
    return (
        f"append check: of {check.checked} items of source {source_name}, {check.missing} are missing "
        f"from target {target_name} and {check.different} differ from the source; {'; '.join(examples)}"
    )
