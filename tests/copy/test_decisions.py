"""The copy's pure decisions: target table spec, refusals, segment count, pacing, canonical digests, input
guardrails, the report."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from ddbkeeper.copy.board import Change, Finished, Shares, marker, tally
from ddbkeeper.copy.models import (
    CopyRequest,
    FinalSettings,
    SegmentCheckpoint,
    SegmentTask,
    Verification,
)
from ddbkeeper.copy.report import copy_report
from ddbkeeper.copy.segments import choose_segments, segment_count, share_caps
from ddbkeeper.copy.target import EXECUTION, MANAGED_BY, marked, planned_actions, refuse_unsafe, target_spec
from ddbkeeper.errors import InvalidInput, TableNotFound, TargetExists, UnsafeOperation
from ddbkeeper.models import TargetOverrides, parse
from ddbkeeper.pacing import SLOW_START_DOUBLING, UNSETTLED_QUIET_SECONDS, AdaptiveLimiter
from ddbkeeper.tables import index_names
from ddbkeeper.wire import canonical, item_digest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import load_event

pytestmark = pytest.mark.pure

SOURCE: dict[str, Any] = {
    "TableName": "orders",
    "TableArn": "arn:aws:dynamodb:us-east-1:111111111111:table/orders",
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "N"},
        {"AttributeName": "kind", "AttributeType": "S"},
        {"AttributeName": "score", "AttributeType": "N"},
    ],
    "BillingModeSummary": {"BillingMode": "PROVISIONED"},
    "ProvisionedThroughput": {"ReadCapacityUnits": 50, "WriteCapacityUnits": 20, "NumberOfDecreasesToday": 0},
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "by_kind",
            "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
            "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 7},
            "IndexStatus": "ACTIVE",
            "IndexArn": "arn:...",
        }
    ],
    "LocalSecondaryIndexes": [
        {
            "IndexName": "by_score",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "score", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ],
    "SSEDescription": {"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": "arn:aws:kms:...:key/1"},
    "TableClassSummary": {"TableClass": "STANDARD_INFREQUENT_ACCESS"},
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    "DeletionProtectionEnabled": True,
}


def test_target_spec_mirrors_the_source() -> None:
    spec = target_spec(SOURCE, {"team": "payments"}, TargetOverrides(), "orders-copy")

    assert spec["TableName"] == "orders-copy"
    assert spec["BillingMode"] == "PROVISIONED"
    assert spec["ProvisionedThroughput"] == {"ReadCapacityUnits": 50, "WriteCapacityUnits": 20}
    assert spec["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "by_kind",
            "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
            "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 7},
        }
    ]
    assert [i["IndexName"] for i in spec["LocalSecondaryIndexes"]] == ["by_score"]
    assert spec["SSESpecification"] == {"Enabled": True, "SSEType": "KMS"}  # the source's key may be in another account
    assert spec["TableClass"] == "STANDARD_INFREQUENT_ACCESS"
    assert spec["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
    assert spec["Tags"] == [{"Key": "team", "Value": "payments"}]
    assert spec["DeletionProtectionEnabled"] is True


def test_target_spec_overrides() -> None:
    overrides = TargetOverrides(
        billing_mode="PAY_PER_REQUEST",
        drop_indexes=["by_kind", "by_score"],
        table_class="STANDARD",
        sse_kms_key_id="alias/target",
        deletion_protection=False,
        stream=False,
        tags={"env": "staging", "team": "data"},
    )
    spec = target_spec(SOURCE, {"team": "payments"}, overrides, "orders-staging")

    assert spec["BillingMode"] == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in spec
    assert "GlobalSecondaryIndexes" not in spec and "LocalSecondaryIndexes" not in spec
    assert [a["AttributeName"] for a in spec["AttributeDefinitions"]] == ["pk", "sk"]  # unused definitions go too
    assert spec["SSESpecification"]["KMSMasterKeyId"] == "alias/target"
    assert "StreamSpecification" not in spec
    assert spec["Tags"] == [{"Key": "env", "Value": "staging"}, {"Key": "team", "Value": "data"}]
    assert spec["DeletionProtectionEnabled"] is False


@pytest.mark.parametrize(
    ("size", "read", "write", "items", "expected"),
    [
        (0, None, None, 0, 1),
        (10 * 1024**3, None, None, 10**8, 40),
        (10 * 1024**3, None, 100.0, 10**8, 4),  # a 100 units/s cap: 25 units/s a segment at least
        (10 * 1024**3, 30.0, None, 10**8, 1),
        (1024**4, None, None, 10**9, 4096),  # 1 TiB: 4,096 segments, listed in S3 (past COPY_INLINE_SEGMENTS)
        (10**15, None, None, 10**12, 10_000),  # a Distributed Map's children at once
        (300 * 1024**2, None, None, 999, 1),  # few items: one segment whatever the size says
    ],
)
def test_choose_segments(size: int, read: float | None, write: float | None, items: int, expected: int) -> None:
    assert choose_segments(size, read, write, items) == expected


def test_limiter_holds_a_cap_and_settles_under_the_accepted_rate() -> None:
    clock = {"now": 0.0}

    def sleep(seconds: float) -> None:
        clock["now"] += seconds

    capped = AdaptiveLimiter(100.0, clock=lambda: clock["now"], sleep=sleep)
    for _ in range(50):
        capped.acquire(25)
        capped.record(25)
    assert clock["now"] == pytest.approx(49 * 25 / 100)  # the first batch goes at once, then 4 a second

    clock["now"] = 0.0
    free = AdaptiveLimiter(clock=lambda: clock["now"], sleep=sleep)
    free.throttled()
    assert free.rate is None  # nothing measured yet: stays unlimited, the retry backs off
    for _ in range(20):
        clock["now"] += 0.1
        free.record(30)  # DynamoDB accepted 300 units/s
    free.throttled()
    assert free.rate == pytest.approx(300 * 0.95, rel=0.02)
    free.throttled()  # the same burst: no second cut within a second
    assert free.rate == pytest.approx(300 * 0.95, rel=0.02)
    for _ in range(10):
        free.record(1)
    assert free.rate > 300 * 0.95  # climbs back while nothing is refused


def test_the_first_push_back_halves_what_was_taken_and_forgets_the_burst() -> None:
    """What a table takes before it first pushes back came partly from its burst capacity: the limiter goes to half of
    it, and only what the table takes from then on is evidence of its rate."""
    clock = {"now": 0.0}
    limiter = AdaptiveLimiter(clock=lambda: clock["now"], sleep=lambda s: None)
    for _ in range(5):
        clock["now"] += 0.1
        limiter.record(60)  # 300 units in half a second: 600/s, from the table's burst
    limiter.throttled()
    assert limiter.rate == pytest.approx(300 / 0.5 / 2)
    assert limiter.observed_rate() == 0.0  # the burst is no evidence
    assert limiter.learned_rate == limiter.rate


def test_a_rate_learned_in_one_invocation_goes_on_in_the_next_and_a_finished_segments_rate_is_granted() -> None:
    limiter = AdaptiveLimiter(100.0, clock=lambda: 0.0, sleep=lambda s: None)
    assert limiter.learned_rate is None
    limiter.grant(20.0)
    assert limiter.rate == 100.0  # not pushed back: the cap is its rate, nothing to add to
    limiter.resume(40.0)
    assert (limiter.rate, limiter.learned_rate) == (40.0, 40.0)
    limiter.grant(25.0)
    assert limiter.rate == 65.0
    limiter.grant(100.0)
    assert limiter.rate == 100.0  # never past the cap
    AdaptiveLimiter(clock=lambda: 0.0).resume(None)  # nothing learned: nothing to resume


def test_writers_starting_together_start_slowly_and_double_until_the_table_pushes_back() -> None:
    clock = {"now": 0.0}
    limiter = AdaptiveLimiter(clock=lambda: clock["now"], sleep=lambda s: None)
    limiter.start_slowly(25.0)
    assert limiter.rate == 25.0 and limiter.learned_rate is None
    limiter.record(10)  # the first answer: the clock of the doubling starts
    for _ in range(6):
        clock["now"] += SLOW_START_DOUBLING / 2
        limiter.record(10)
    assert limiter.rate == pytest.approx(25.0 * 2**3)  # doubled every SLOW_START_DOUBLING seconds
    limiter.throttled()
    pushed_to = limiter.rate
    assert pushed_to is not None and pushed_to < 25.0 * 2**3
    clock["now"] += SLOW_START_DOUBLING
    limiter.record(10)
    assert limiter.rate < pushed_to * 1.1  # no more doubling: it climbs as any limiter the table pushed back
    limiter.start_slowly(1.0)
    assert limiter.rate != 1.0  # a rate learned is never replaced by a start


def test_a_rate_settled_on_evidence_climbs_gently() -> None:
    """Before the table's rate is measured a limiter climbs back fast (it may be far under it); once it settled just
    under what the table took, it probes gently: a few percent a second, not a quarter."""
    climbs = []
    clock = {"now": 0.0}
    for settled in (False, True):
        clock["now"] = 0.0
        limiter = AdaptiveLimiter(clock=lambda: clock["now"], sleep=lambda s: None)
        if settled:
            limiter.resume(100.0)  # a rate an earlier invocation settled on
        else:
            limiter.record(50)
            clock["now"] += 0.2
            limiter.record(50)
            limiter.throttled()  # the first push-back: half of what was taken, not yet evidence
            limiter.rate = 100.0
        clock["now"] += 5.0  # five quiet seconds
        limiter.record(100)
        before = limiter.rate or 0.0
        clock["now"] += 1.0
        limiter.record(100)  # the table takes what the rate sends
        climbs.append((limiter.rate or 0.0) / before - 1)
    assert climbs[0] > 3 * climbs[1] > 0


def test_a_segment_taking_a_batch_a_second_settles_on_its_rate_not_on_its_last_answers() -> None:
    """A segment among many writes a 25-unit batch a second or so: the rate it settles on at a push-back is measured
    over its last answers, not over the one or two of the last window (a partial answer of 3 units after a second
    would pass for 2.5 units/s)."""
    clock = {"now": 0.0}
    limiter = AdaptiveLimiter(clock=lambda: clock["now"], sleep=lambda s: None)
    limiter.resume(20.0)
    for _ in range(8):
        clock["now"] += 1.25
        limiter.record(25)  # 20 units/s
    clock["now"] += 1.2
    limiter.record(3)  # the table took 3 items of the next batch
    limiter.throttled()
    assert 15.0 < (limiter.rate or 0.0) < 20.0


def test_a_rate_not_yet_settled_climbs_no_faster_after_long_quiet() -> None:
    """Before it settles a limiter's climb grows with the square of the quiet seconds, up to UNSETTLED_QUIET_SECONDS:
    eight segments quiet for ten seconds would otherwise climb together a quarter past the table in one second."""
    climbs = []
    clock = {"now": 0.0}
    for quiet in (UNSETTLED_QUIET_SECONDS, 2 * UNSETTLED_QUIET_SECONDS):
        clock["now"] = 0.0
        limiter = AdaptiveLimiter(clock=lambda: clock["now"], sleep=lambda s: None)
        limiter.record(50)
        clock["now"] += 0.2
        limiter.record(50)
        limiter.throttled()  # the first push-back
        limiter.rate = 100.0
        clock["now"] += quiet
        limiter.record(100)
        before = limiter.rate or 0.0
        clock["now"] += 0.5
        limiter.record(50)
        climbs.append((limiter.rate or 0.0) / before - 1)
    assert climbs[1] == pytest.approx(climbs[0], rel=0.05)


def test_segments_sharing_a_table_climb_by_their_share() -> None:
    """Eight segments probing a table together climb as one limiter would: each by an eighth."""
    climbs = []
    clock = {"now": 0.0}
    for share in (1.0, 1 / 8):
        clock["now"] = 0.0
        limiter = AdaptiveLimiter(clock=lambda: clock["now"], sleep=lambda s: None)
        limiter.climb_share = share
        limiter.resume(100.0)
        for _ in range(10):
            clock["now"] += 0.1
            limiter.record(10)
        climbs.append((limiter.rate or 0.0) - 100.0)
    assert climbs[1] == pytest.approx(climbs[0] / 8, rel=0.1)


wire_values = st.recursive(
    st.one_of(
        st.builds(lambda s: {"S": s}, st.text(max_size=5)),
        st.builds(lambda n: {"N": str(n)}, st.integers()),
        st.builds(lambda b: {"B": b}, st.text(alphabet="AB=", max_size=4)),
        st.builds(lambda s: {"SS": s}, st.lists(st.text(max_size=3), min_size=1, unique=True)),
        st.builds(lambda s: {"NS": s}, st.lists(st.integers().map(str), min_size=1, unique=True)),
    ),
    lambda children: st.one_of(
        st.builds(lambda items: {"L": items}, st.lists(children, max_size=3)),
        st.builds(lambda items: {"M": items}, st.dictionaries(st.text(max_size=3), children, max_size=3)),
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=4), wire_values, min_size=1, max_size=4), st.randoms())
def test_item_digest_ignores_set_and_map_order(item: dict[str, Any], rng: Any) -> None:
    def shuffle(value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((kind, inner),) = value.items()
            if kind in ("SS", "NS", "BS"):
                return {kind: rng.sample(inner, len(inner))}
            if kind == "M":
                keys = rng.sample(list(inner), len(inner))
                return {kind: {k: shuffle(inner[k]) for k in keys}}
            if kind == "L":
                return {kind: [shuffle(v) for v in inner]}
        return value

    shuffled = {k: shuffle(v) for k, v in rng.sample(list(item.items()), len(item))}
    assert item_digest(shuffled) == item_digest(item)
    assert canonical(shuffled) == canonical(item)


def test_an_attribute_named_like_a_type_is_still_an_attribute() -> None:
    """An item whose one attribute is called M (or L, SS...) is not a map value: its sets are still sorted."""
    item = {"M": {"L": [{"SS": ["", "0"]}]}}
    assert canonical(item) == {"M": {"L": [{"SS": ["", "0"]}]}}
    assert item_digest(item) == item_digest({"M": {"L": [{"SS": ["0", ""]}]}})


def test_item_digest_sees_every_difference() -> None:
    base = {"pk": {"S": "a"}, "l": {"L": [{"N": "1"}, {"N": "2"}]}}
    assert item_digest(base) != item_digest({**base, "l": {"L": [{"N": "2"}, {"N": "1"}]}})  # lists keep order
    assert item_digest(base) != item_digest({**base, "pk": {"S": "b"}})
    assert item_digest(base) != item_digest({**base, "x": {"NULL": True}})


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"source": {"table": "a-table"}}, "target: Field required"),
        (
            {"source": {"table": "a-table"}, "target": {"table": "b-table"}, "mode": "recreate"},
            "needs confirm_recreate",
        ),
        (
            {"source": {"table": "a-table"}, "target": {"table": "b-table"}, "confirm_recreate": "b-table"},
            "confirm_recreate goes with mode recreate",
        ),
        ({"source": {"table": "a-table"}, "target": {"table": "b-table"}, "segments": 10_001}, "segments"),
        ({"source": {"table": "a-table"}, "target": {"table": "b-table"}, "max_write_units": 0}, "max_write_units"),
        ({"source": {"table": "a-table"}, "target": {"table": "b-table"}, "verify": "md5"}, "verify"),
        ({"source": {"table": "a-table", "external_id": "xx"}, "target": {"table": "b-table"}}, "needs role_arn"),
        (
            {
                "source": {"table": "a-table"},
                "target": {"table": "b-table"},
                "resume": [{"segment": 0, "total_segments": 1}],
            },
            "resume needs mode append",
        ),
        (
            {
                "source": {"table": "a-table"},
                "target": {"table": "b-table"},
                "target_overrides": {"billing_mode": "PROVISIONED"},
            },
            "needs read_capacity and write_capacity",
        ),
    ],
)
def test_copy_input_guardrails(payload: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        parse(CopyRequest, payload)


BASE: dict[str, Any] = {"source": {"table": "a-table"}, "target": {"table": "b-table"}}
CHECKPOINT: dict[str, Any] = {"segment": 0, "total_segments": 4}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"mode": "append"}, "input: mode append needs confirm_append naming the target table"),
        ({"confirm_append": "b-table"}, "input: confirm_append goes with mode append"),
        (
            {"mode": "recreate", "confirm_recreate": "b-table", "allow_protected_target": True},
            "input: allow_protected_target goes with mode append",
        ),
        ({"mode": "append", "confirm_append": "b-table", "allow_protected_target": "yes"}, "allow_protected_target"),
    ],
)
def test_an_append_is_confirmed_like_a_recreate(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=f"^{message}"):
        parse(CopyRequest, {**BASE, **fields})


@pytest.mark.parametrize(
    ("resume", "segments", "message"),
    [
        ([1, "x", None], "auto", "resume.0: expected a JSON object, got int"),
        ([{"segment": "first"}], "auto", "resume.0.segment: Input should be a valid integer"),
        ([{"segment": 0}], "auto", "resume.0.total_segments: Field required"),
        (
            [CHECKPOINT, {**CHECKPOINT, "segment": 1}, {**CHECKPOINT, "segment": 2, "total_segments": 8}],
            "auto",
            "resume.2.total_segments: 8, but resume.0.total_segments is 4",
        ),
        ([CHECKPOINT, {**CHECKPOINT, "segment": 4}], "auto", "resume.1.segment: 4 is not below total_segments 4"),
        ([CHECKPOINT, {**CHECKPOINT, "items": 3}], "auto", r"resume.1.segment: segment 0 again \(resume.0\)"),
        (
            [{**CHECKPOINT, "exclusive_start_key": {"pk": {"S": 1}}}],
            "auto",
            "resume.0.exclusive_start_key: pk: expected a key attribute in wire form",
        ),
        (
            [{**CHECKPOINT, "exclusive_start_key": {"pk": {"S": "a", "N": "1"}}}],
            "auto",
            "resume.0.exclusive_start_key: pk: expected a key attribute in wire form",
        ),
        ([CHECKPOINT], 8, "segments: 8, but the resume checkpoints cut the table into 4 segments"),
    ],
)
def test_resume_checkpoints_are_refused_field_by_field(resume: Any, segments: Any, message: str) -> None:
    """Garbage once ended in a TypeError, and a run's checkpoints that disagreed were taken as they came."""
    payload = {**BASE, "mode": "append", "confirm_append": "b-table", "resume": resume, "segments": segments}
    with pytest.raises(InvalidInput, match=f"^{message}"):
        parse(CopyRequest, payload)


def test_resume_checkpoints_of_one_run_are_taken() -> None:
    resume = [{**CHECKPOINT, "segment": 3, "exclusive_start_key": {"pk": {"S": "a"}, "sk": {"N": "1"}}}, CHECKPOINT]
    payload = {**BASE, "mode": "append", "confirm_append": "b-table", "resume": resume, "segments": 4}
    parsed = parse(CopyRequest, payload).resume or []
    assert [(c.segment, c.total_segments) for c in parsed] == [(3, 4), (0, 4)]


def test_a_created_table_carries_the_stacks_marks_over_any_copied_ones() -> None:
    spec = target_spec(
        SOURCE, {"team": "payments", MANAGED_BY: "another-stack"}, TargetOverrides(tags={"env": "dr"}), "orders-copy"
    )

    tags = marked(spec, "ddbkeeper-prod", "copy-20261122")["Tags"]

    assert tags == [
        {"Key": EXECUTION, "Value": "copy-20261122"},
        {"Key": MANAGED_BY, "Value": "ddbkeeper-prod"},
        {"Key": "env", "Value": "dr"},
        {"Key": "team", "Value": "payments"},
    ]
    assert spec["Tags"][0] == {"Key": MANAGED_BY, "Value": "another-stack"}  # the plan's spec itself is left alone
    assert marked({**spec, "Tags": []}, "s", "e")["Tags"] == [
        {"Key": EXECUTION, "Value": "e"},
        {"Key": MANAGED_BY, "Value": "s"},
    ]


def request(**fields: Any) -> CopyRequest:
    return parse(CopyRequest, {"source": {"table": "orders"}, "target": {"table": "orders-copy"}, **fields})


TARGET: dict[str, Any] = {**SOURCE, "TableName": "orders-copy", "TableArn": SOURCE["TableArn"] + "-copy"}
OTHER_KEYS: dict[str, Any] = {**TARGET, "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}
UNPROTECTED_OTHER_KEYS: dict[str, Any] = {**OTHER_KEYS, "DeletionProtectionEnabled": False}
APPEND: dict[str, Any] = {"mode": "append", "confirm_append": "orders-copy"}


@pytest.mark.parametrize(
    ("fields", "target", "error", "fragment"),
    [
        ({"target": {"table": "orders"}}, None, UnsafeOperation, "the target is the source table"),
        ({"mode": "append", "confirm_append": "orders"}, SOURCE, UnsafeOperation, "the target is the source table"),
        ({}, TARGET, TargetExists, "orders-copy exists; use mode append or recreate"),
        ({**APPEND}, None, TableNotFound, "does not exist \\(mode append\\)"),
        ({**APPEND}, UNPROTECTED_OTHER_KEYS, UnsafeOperation, "key schema .* differs from the source's"),
        ({**APPEND, "confirm_append": "orders-cop"}, TARGET, UnsafeOperation, "confirm_append: must name the target"),
        ({**APPEND}, TARGET, UnsafeOperation, "has deletion protection; appending .* allow_protected_target: true"),
        ({"mode": "recreate", "confirm_recreate": "orders-cop"}, TARGET, UnsafeOperation, "must name the target"),
        ({"mode": "recreate", "confirm_recreate": "orders-copy"}, TARGET, UnsafeOperation, "has deletion protection"),
    ],
)
def test_refusals(fields: dict[str, Any], target: dict[str, Any] | None, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        refuse_unsafe(request(**fields), SOURCE, target)


@pytest.mark.parametrize(
    ("fields", "target"),
    [
        ({}, None),
        ({**APPEND}, {**TARGET, "DeletionProtectionEnabled": False}),
        ({**APPEND, "allow_protected_target": True}, TARGET),  # the request says so, in so many words
        ({"mode": "recreate", "confirm_recreate": "orders-copy"}, None),
        ({"mode": "recreate", "confirm_recreate": "orders-copy"}, {**TARGET, "DeletionProtectionEnabled": False}),
        ({"target": {"table": "orders", "region": "eu-west-1"}}, None),  # the same name in another region
    ],
)
def test_what_is_allowed(fields: dict[str, Any], target: dict[str, Any] | None) -> None:
    refuse_unsafe(request(**fields), SOURCE, target)


def test_an_index_the_source_lacks_is_invalid_input() -> None:
    """The same mistake is the same error in every workflow: a restore's drop_indexes says InvalidInput too."""
    overrides = TargetOverrides(drop_indexes=["by_kind", "by_kindd"])
    with pytest.raises(InvalidInput, match=r"target_overrides\.drop_indexes: the source has no index by_kindd$"):
        overrides.check_indexes(index_names(SOURCE))


def test_planned_actions_say_what_a_real_run_would_do() -> None:
    recreate = request(mode="recreate", confirm_recreate="orders-copy")
    spec = target_spec(SOURCE, {}, TargetOverrides(), "orders-copy")
    source = {**SOURCE, "ItemCount": 12345, "TableSizeBytes": 3 * 1024**2}

    actions = planned_actions(recreate, source, {**TARGET, "ItemCount": 7}, spec, 4)

    assert actions == [
        "drop table orders-copy (7 items) and create it again",
        "create table orders-copy: PROVISIONED, 1 GSI, 1 LSI",
        f"copy about 12,345 items (3.0 MiB) from {SOURCE['TableArn']} in 4 segments",
        "verify: count",
    ]
    append = planned_actions(request(**APPEND), SOURCE, {**TARGET, "DeletionProtectionEnabled": False}, spec, 1)
    assert append[0] == "add to table orders-copy (items with the same keys are overwritten)"


def test_planned_actions_name_the_backup_before_a_drop_and_what_an_append_checks() -> None:
    recreate = request(mode="recreate", confirm_recreate="orders-copy")
    spec = target_spec(SOURCE, {}, TargetOverrides(), "orders-copy")
    target = {**TARGET, "ItemCount": 7}

    actions = planned_actions(recreate, SOURCE, target, spec, 4, backup="ddbkeeper-orders-copy-20261122T030000000Z")

    assert actions[0] == (
        "drop table orders-copy (7 items) and create it again; first back it up as "
        "ddbkeeper-orders-copy-20261122T030000000Z (kept and pruned by the backup workflow's retention)"
    )
    protected = request(**APPEND, allow_protected_target=True, verify="checksum")
    actions = planned_actions(protected, SOURCE, TARGET, spec, 1)
    assert actions[0].endswith("; it has deletion protection (allow_protected_target)")
    assert actions[-1] == "verify: checksum, every source item read back from orders-copy and compared as written"
    resumed = request(**APPEND, resume=[{"segment": 2, "total_segments": 4}, {"segment": 0, "total_segments": 4}])
    actions = planned_actions(resumed, SOURCE, TARGET, spec, 4)
    assert (
        actions[-2]
        == "resume 2 of 4 segments from their checkpoints; segments 1, 3 are not in resume and are not copied"
    )


def test_segments_and_caps_are_shared_out() -> None:
    assert segment_count(request(segments=7), 10**15, 10**12) == 7
    assert segment_count(request(max_write_units=100.0), 10 * 1024**3, 10**8) == 4
    caps = share_caps(request(max_write_units=1000.0), 4)
    assert (caps.read, caps.write) == (None, 250.0)


def test_a_checkpoint_survives_the_state_machine_in_wire_form() -> None:
    key = {"pk": {"S": "customer-001"}, "sk": {"N": "17"}, "b": {"B": "AAE="}}
    checkpoint = SegmentCheckpoint(segment=3, total_segments=8, exclusive_start_key=key, items=10, read_units=2.5)
    event = load_event("copy_segment.json") | {"checkpoint": checkpoint.model_dump(mode="json")}

    assert parse(SegmentTask, event).checkpoint == checkpoint


def test_report_totals_and_segments() -> None:
    segments = [
        SegmentCheckpoint(segment=1, total_segments=2, done=True, items=5, bytes=50, pages=1, read_units=0.26,
                          write_units=5.04, invocations=1, seconds=1.0004, credential_refreshes=1),
        SegmentCheckpoint(segment=0, total_segments=2, done=True, items=7, bytes=70, pages=2, read_units=0.5,
                          write_units=7.0, throttles=2, retried_items=3, invocations=2, seconds=2.0),
    ]  # fmt: skip
    verification = Verification(verify="count", items=12)

    report = copy_report(request(), segments, verification, FinalSettings(pitr=True))

    assert report.totals.model_dump() == {
        "items": 12,
        "bytes": 120,
        "pages": 3,
        "read_units": 0.8,
        "write_units": 12.0,
        "throttles": 2,
        "retried_items": 3,
        "invocations": 3,
        "credential_refreshes": 1,
        "segments": 2,
        "segment_seconds": 3.0,
    }
    assert [line.segment for line in report.segments] == [0, 1]
    assert "exclusive_start_key" not in report.model_dump(mode="json")["segments"][0]
    assert (report.source, report.target, report.mode) == ("orders", "orders-copy", "create")
    assert report.verification == verification
    assert report.finalized == FinalSettings(pitr=True)


class _Board:
    """The board as S3Board keeps it: markers named after the segment and the rates it leaves."""

    def __init__(self) -> None:
        self.markers: list[str] = []
        self.looks = 0

    @property
    def finished_segments(self) -> set[int]:
        return {int(name.partition("-")[0]) for name in self.markers}

    def finish(self, segments: Iterable[int]) -> None:
        for segment in segments:
            self.finished(segment)

    def finished(self, segment: int, read_rate: float | None = None, write_rate: float | None = None) -> None:
        self.markers.append(marker(segment, read_rate, write_rate))

    def done(self) -> Finished | None:
        self.looks += 1
        return tally(self.markers)


def test_a_segments_share_grows_as_others_finish_and_the_board_is_read_at_most_fifty_times_a_second() -> None:
    clock = {"now": 0.0}
    board = _Board()
    shares = Shares(board, total=500, clock=lambda: clock["now"])
    shares.look()
    assert shares.changed() is None  # nobody finished
    board.finish(range(100))
    assert shares.changed() is None  # looked a moment ago: 500 segments look every 10 s
    clock["now"] += 10.0
    assert shares.changed() == Change(500, 400)
    board.finish(range(100, 390))
    clock["now"] += 400 / 50
    assert shares.changed() == Change(400, 110)
    clock["now"] += 2.0  # 110 running: a look every 2.2 s, not yet
    assert shares.changed() is None
    assert board.looks == 3


@given(
    total=st.integers(1, 12),
    order=st.randoms(use_true_random=False),
    looks=st.lists(st.tuples(st.integers(0, 11), st.floats(0, 3)), max_size=60),
)
def test_segments_that_see_the_board_late_together_never_take_more_than_the_cap(
    total: int, order: Any, looks: list[tuple[int, float]]
) -> None:
    """Segments finish in any order and look at the board at any times: a segment's share is the cap over the running
    segments it last saw, never fewer than run, so the shares of those still running never add up past the cap."""
    cap, clock = 120.0, {"now": 0.0}
    board = _Board()
    views = [Shares(board, total=total, clock=lambda: clock["now"]) for _ in range(total)]
    start = share_caps(request(max_write_units=cap), total).write or 0.0
    caps = dict.fromkeys(range(total), start)
    finishing = list(range(total))
    order.shuffle(finishing)
    for step, (looker, pause) in enumerate(looks):
        clock["now"] += pause
        if step % 5 == 4 and finishing:
            board.finished(finishing.pop())
        segment = looker % total
        if segment in board.finished_segments:
            continue
        changed = views[segment].changed()
        if changed is not None:
            caps[segment] = caps[segment] * changed.before / changed.running  # as SegmentCopier takes its share
        running_now = [s for s in range(total) if s not in board.finished_segments]
        assert sum(caps[s] for s in running_now) <= cap * (1 + 1e-9)
    for segment in set(range(total)) - board.finished_segments:  # a look after the last finish: the cap is shared out
        clock["now"] += 60
        views[segment].changed()
    running_now = [s for s in range(total) if s not in board.finished_segments]
    for segment in running_now:
        assert views[segment].running == len(running_now)


def test_shares_count_only_the_segments_the_map_runs_at_once() -> None:
    """With more segments than the Map runs at once, the cap is shared among those running, not among all."""
    board = _Board()
    shares = Shares(board, total=2000, clock=lambda: 100.0, concurrency=500)
    assert shares.running == 500
    assert share_caps(request(max_write_units=1000.0), 2000).write == 2.0
    board.finish(range(1600))
    shares.look()
    assert shares.changed() == Change(500, 400)


def test_a_board_that_cannot_be_read_keeps_the_share() -> None:
    class Unreadable(_Board):
        def done(self) -> Finished | None:
            return None

    shares = Shares(Unreadable(), total=8, clock=lambda: 5.0)
    shares.look()
    assert shares.changed() is None
    assert shares.running == 8


def test_a_finished_segments_rate_goes_to_those_still_running_and_is_taken_once() -> None:
    """A segment that ends leaves the rates the tables pushed it to; each running segment takes its share of them
    (a segment that started slowly gets the table's capacity the others leave), and never twice."""
    board = _Board()
    clock = {"now": 0.0}
    shares = Shares(board, total=4, clock=lambda: clock["now"])
    board.finished(2, read_rate=30.0, write_rate=90.0)
    board.finished(2, read_rate=30.0, write_rate=90.0)  # a retry after it finished: one segment still
    clock["now"] += 1.0
    assert shares.changed() == Change(4, 3, read_rate=10.0, write_rate=30.0)
    clock["now"] += 1.0
    assert shares.changed() is None
    clock["now"] += 1.0
    board.finished(0)  # it learned no rate (never pushed back): a share of the caps only
    assert shares.changed() == Change(3, 2)


def test_the_board_reads_what_its_markers_say() -> None:
    assert marker(7, None, 152.25) == "00007-w152.2-r0.0"
    assert tally(["00007-w152.2-r0.0", "00003-w10.0-r5.5", "00007-w1.0-r1.0", "strange"]) == Finished(
        3, read_rate=6.5, write_rate=11.0
    )
