"""What the new table gets (pure): the restore call's overrides, the settings re-applied, the count check, the
plan in words."""

from __future__ import annotations

from typing import Any

import pytest
from ddbkeeper.errors import InvalidInput, VerificationFailed
from ddbkeeper.models import parse
from ddbkeeper.recovery import count_check
from ddbkeeper.restore.models import ImportCounts, RestoreTarget
from ddbkeeper.restore.target import (
    MANAGED_BY,
    MARK,
    actions,
    changes,
    check_import,
    given,
    lacks,
    managed,
    missing,
    overrides,
    wanted_settings,
)
from ddbkeeper.settings import SETTINGS, TableSettings
from hypothesis import given as for_all
from hypothesis import strategies as st

pytestmark = pytest.mark.pure


def index(name: str, key: str = "kind") -> dict[str, Any]:
    return {
        "IndexName": name,
        "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "ALL"},
        "IndexStatus": "ACTIVE",  # what a description adds: never sent back in an override
    }


GSIS = [index("by_kind"), index("by_owner", "owner")]
LSIS = [index("by_score", "pk")]


def target(**fields: Any) -> RestoreTarget:
    return parse(RestoreTarget, {"table": "orders-restored", **fields})


# --- the restore call's overrides -----------------------------------------------------------------------------------


def test_no_override_asked_for_sends_none() -> None:
    assert overrides(target(), GSIS, LSIS) == {}


def test_on_demand_changes_only_the_billing_mode() -> None:
    assert overrides(target(billing_mode="PAY_PER_REQUEST"), GSIS, LSIS) == {"BillingModeOverride": "PAY_PER_REQUEST"}


def test_provisioned_capacity_applies_to_the_table_and_every_kept_index() -> None:
    params = overrides(target(billing_mode="PROVISIONED", read_capacity=10, write_capacity=20), GSIS, LSIS)

    capacity = {"ReadCapacityUnits": 10, "WriteCapacityUnits": 20}
    assert params["BillingModeOverride"] == "PROVISIONED"
    assert params["ProvisionedThroughputOverride"] == capacity
    assert [gsi["IndexName"] for gsi in params["GlobalSecondaryIndexOverride"]] == ["by_kind", "by_owner"]
    assert all(gsi["ProvisionedThroughput"] == capacity for gsi in params["GlobalSecondaryIndexOverride"])
    assert params["LocalSecondaryIndexOverride"] == [
        {key: LSIS[0][key] for key in ("IndexName", "KeySchema", "Projection")}
    ]


def test_dropped_indexes_are_left_out_and_the_rest_sent_as_they_were() -> None:
    params = overrides(target(drop_indexes=["by_owner", "by_score"]), GSIS, LSIS)

    assert params == {
        "GlobalSecondaryIndexOverride": [{key: GSIS[0][key] for key in ("IndexName", "KeySchema", "Projection")}],
        "LocalSecondaryIndexOverride": [],
    }


def test_an_index_the_source_does_not_have_is_refused_by_name() -> None:
    with pytest.raises(InvalidInput, match=r"^target\.drop_indexes: the source has no index by_typo, zzz$"):
        overrides(target(drop_indexes=["zzz", "by_kind", "by_typo"]), GSIS, LSIS)


def test_a_kms_key_asks_for_kms_encryption() -> None:
    assert overrides(target(sse_kms_key_id="alias/orders"), GSIS, LSIS) == {
        "SSESpecificationOverride": {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": "alias/orders"}
    }


# --- the settings re-applied ----------------------------------------------------------------------------------------

RECORDED = TableSettings(
    table_class="STANDARD",
    stream="NEW_IMAGE",
    ttl_attribute="expires",
    pitr=True,
    tags={"team": "payments", "env": "prod"},
    deletion_protection=True,
)


def test_the_source_settings_carry_over_when_the_request_says_nothing() -> None:
    assert wanted_settings(RECORDED, target()) == RECORDED
    assert wanted_settings(TableSettings(), target()) == TableSettings()


def test_the_requests_overrides_win() -> None:
    wanted = wanted_settings(
        RECORDED,
        target(
            table_class="STANDARD_INFREQUENT_ACCESS",
            ttl_attribute="gone",
            pitr=False,
            deletion_protection=False,
            tags={"env": "dev", "owner": "ops"},
        ),
    )

    assert wanted == TableSettings(
        table_class="STANDARD_INFREQUENT_ACCESS",
        stream="NEW_IMAGE",
        ttl_attribute="gone",
        pitr=False,
        tags={"team": "payments", "env": "dev", "owner": "ops"},
        deletion_protection=False,
    )


@pytest.mark.parametrize(
    ("recorded", "stream", "expected"),
    [
        (None, True, "NEW_AND_OLD_IMAGES"),  # a stream asked for, the source had none: the fullest view
        ("KEYS_ONLY", True, "KEYS_ONLY"),  # the source's view is kept
        ("KEYS_ONLY", False, None),
        ("KEYS_ONLY", None, "KEYS_ONLY"),
    ],
)
def test_a_stream_asked_for_keeps_the_sources_view(recorded: str | None, stream: bool | None, expected: str) -> None:
    asked = {} if stream is None else {"stream": stream}
    assert wanted_settings(TableSettings(stream=recorded), target(**asked)).stream == expected


def test_a_restore_only_adds_settings_never_turns_one_off() -> None:
    assert lacks("pitr", True, False)
    assert not lacks("pitr", False, True)
    assert not lacks("stream", None, "NEW_IMAGE")
    assert lacks("stream", "NEW_IMAGE", "KEYS_ONLY")
    assert lacks("tags", {"a": "1"}, {"b": "2"})
    assert not lacks("tags", {"a": "1"}, {"a": "1", "b": "2"})
    assert lacks("tags", {"a": "1"}, {"a": "2"})


def test_what_is_missing_comes_in_the_order_it_is_applied() -> None:
    bare = TableSettings(table_class="STANDARD")
    assert missing(RECORDED, bare) == ["stream", "ttl_attribute", "pitr", "tags", "deletion_protection"]
    assert missing(RECORDED, RECORDED) == []
    assert SETTINGS[-1] == "deletion_protection"  # last: once set, nothing else may touch the table


SETTINGS_STRATEGY = st.builds(
    TableSettings,
    table_class=st.sampled_from([None, "STANDARD", "STANDARD_INFREQUENT_ACCESS"]),
    stream=st.sampled_from([None, "KEYS_ONLY", "NEW_IMAGE", "NEW_AND_OLD_IMAGES"]),
    ttl_attribute=st.sampled_from([None, "expires", "ttl"]),
    pitr=st.booleans(),
    tags=st.dictionaries(st.sampled_from(["team", "env", "owner"]), st.sampled_from(["a", "b"]), max_size=3),
    deletion_protection=st.booleans(),
)


@for_all(wanted=SETTINGS_STRATEGY, current=SETTINGS_STRATEGY)
def test_applying_what_is_missing_leaves_nothing_missing(wanted: TableSettings, current: TableSettings) -> None:
    """Each missing setting, applied as the service applies it, is no longer missing; nothing set is unset."""
    table = current.model_copy()
    for setting in missing(wanted, current):
        value = getattr(wanted, setting)
        table = table.model_copy(update={setting: table.tags | value if setting == "tags" else value})
    assert missing(wanted, table) == []
    for setting in SETTINGS:
        if setting != "tags" and getattr(current, setting) and not getattr(wanted, setting):
            assert getattr(table, setting) == getattr(current, setting)


# --- the stack's tag: the first change -------------------------------------------------------------------------------


def test_the_stacks_tag_comes_first_and_alone_never_counts_twice() -> None:
    bare = TableSettings(table_class="STANDARD")
    wanted = managed(RECORDED, "keeper")

    assert changes(wanted, bare, "keeper") == [MARK, "stream", "ttl_attribute", "pitr", "tags", "deletion_protection"]
    assert changes(managed(TableSettings(), "keeper"), TableSettings(), "keeper") == [MARK]  # the tag is all it needs
    tagged = bare.model_copy(update={"tags": {MANAGED_BY: "keeper"}})
    assert changes(wanted, tagged, "keeper")[0] == "stream"
    # another stack's tag (a restore of a table another stack restored) is no mark of this one
    assert changes(wanted, bare.model_copy(update={"tags": {MANAGED_BY: "other"}}), "keeper")[0] == MARK


def test_the_stacks_tag_overrides_only_its_own_key() -> None:
    tags = {"team": "payments", MANAGED_BY: "another-stack", "ddbkeeper:managed": "x"}

    assert managed(TableSettings(tags=tags), "keeper").tags == {
        "team": "payments",
        MANAGED_BY: "keeper",
        "ddbkeeper:managed": "x",
    }


@for_all(wanted=SETTINGS_STRATEGY, current=SETTINGS_STRATEGY, marked=st.sampled_from([None, "keeper", "other"]))
def test_making_the_changes_in_order_leaves_a_table_of_the_stack_with_every_setting(
    wanted: TableSettings, current: TableSettings, marked: str | None
) -> None:
    """Each change, made as the service makes it, is not needed again; the first is the stack's tag whenever the table
    lacks it (untagged, or another stack's), and the table ends carrying it; no other tag is lost or changed."""
    if marked:
        current = managed(current, marked)
    wanted = managed(wanted, "keeper")
    table = current.model_copy()
    needed = changes(wanted, table, "keeper")
    assert (needed[:1] == [MARK]) == (current.tags.get(MANAGED_BY) != "keeper")
    for change in needed:
        if change == MARK:
            table = managed(table, "keeper")
        else:
            value = getattr(wanted, change)
            table = table.model_copy(update={change: table.tags | value if change == "tags" else value})
    assert changes(wanted, table, "keeper") == []
    assert table.tags[MANAGED_BY] == "keeper"
    assert {key: value for key, value in table.tags.items() if key != MANAGED_BY} == {
        key: value for key, value in (current.tags | wanted.tags).items() if key != MANAGED_BY
    }


def test_the_report_lists_the_settings_that_are_set() -> None:
    assert given(TableSettings(table_class="STANDARD", pitr=True)) == {"table_class": "STANDARD", "pitr": True}
    assert given(TableSettings()) == {}


# --- the count check ------------------------------------------------------------------------------------------------


def test_a_count_with_nothing_to_compare_is_reported_as_counted() -> None:
    assert count_check("t", 12, None, exact=False) == "COUNTED (no recorded count to compare)"


def test_an_equal_count_matches_whatever_its_source() -> None:
    assert count_check("t", 12, 12, exact=True) == "MATCH"
    assert count_check("t", 12, 12, exact=False) == "MATCH"


def test_an_exported_count_is_exact_any_difference_fails() -> None:
    with pytest.raises(VerificationFailed, match="t has 11 items; 12 were exported"):
        count_check("t", 11, 12, exact=True)


@pytest.mark.parametrize(("items", "difference"), [(12, "+2"), (7, "-3"), (1010, "+1,000")])
def test_a_backups_estimate_that_differs_is_reported(items: int, difference: str) -> None:
    result = count_check("t", items, 10, exact=False)
    assert result.startswith(f"DIFFERS from the backup's estimate by {difference} ")


@pytest.mark.parametrize(
    ("imported", "fails"),
    [
        (None, False),
        (ImportCounts(items=5, processed=5, errors=0), False),
        (ImportCounts(items=5, processed=6, errors=1), True),  # rejected items: wrong key attributes
        (ImportCounts(items=6, processed=6, errors=0), True),  # more imported than the table holds
    ],
)
def test_an_import_that_rejected_or_lost_items_fails(imported: ImportCounts | None, fails: bool) -> None:
    if fails:
        with pytest.raises(VerificationFailed, match=r"import into t: \d items imported, \d rejected"):
            check_import("t", 5, imported)
    else:
        check_import("t", 5, imported)


# --- the plan in words ----------------------------------------------------------------------------------------------


def test_the_actions_say_what_the_restore_will_do() -> None:
    params = {"TargetTableName": "t", "BillingModeOverride": "PROVISIONED", "SSESpecificationOverride": {}}
    settings = TableSettings(table_class="STANDARD", pitr=True, tags={"team": "payments"})

    assert actions("restore backup b into a new table t", params, settings, 1200, "count") == [
        "restore backup b into a new table t",
        "with BillingModeOverride, SSESpecificationOverride",
        "then re-apply pitr=True, tags={'team': 'payments'}",
        "verify: count the new table against the 1,200 items the source recorded",
    ]


def test_the_actions_of_a_plain_restore_are_its_source_and_its_check() -> None:
    assert actions("restore x", {}, TableSettings(), None, "count") == [
        "restore x",
        "verify: count the new table (no recorded count to compare)",
    ]
    assert actions("restore x", {}, TableSettings(), 3, "none") == ["restore x", "verify: none"]
