"""A copy's cost and time estimate: the units, the charges at list prices, Lambda, state transitions, the duration."""

from __future__ import annotations

import pytest
from ddbkeeper.copy.estimate import (
    NEW_ON_DEMAND_WRITE_UNITS_PER_SECOND,
    ON_DEMAND_USD_PER_MILLION_READ_UNITS,
    ON_DEMAND_USD_PER_MILLION_WRITE_UNITS,
    PROVISIONED_USD_PER_WRITE_UNIT_HOUR,
    SEGMENT_WRITE_UNITS_PER_SECOND,
    CopyShape,
    estimate,
    shape_of,
)
from ddbkeeper.copy.models import CopyRequest
from hypothesis import given
from hypothesis import strategies as st

pytestmark = pytest.mark.pure

GIB = 1024**3


def test_one_million_items_of_a_kilobyte_and_a_half_under_a_write_cap() -> None:
    shape = CopyShape(items=1_000_000, bytes=1_500 * 1_000_000, segments=8, max_write_units=2000, verify="count")

    found = estimate(shape)

    assert found.item_bytes == 1500
    assert found.write_units == 2_000_000  # 1.5 KB rounds up to two write units per item
    assert found.read_units == pytest.approx(1_500_000_000 / 4096 / 2, abs=1)  # the table once, eventually consistent
    assert found.verify_read_units == 2 * found.read_units  # both tables counted
    assert found.limited_by == "max_write_units"
    assert found.write_units_per_second == 2000
    # the writes at the cap, the new target's creation (20 s), verifying both tables (15 s) and the short steps
    assert found.seconds == pytest.approx(2_000_000 / 2000 + 20 + 183_105.5 / 12_000 + 4, abs=0.1)
    reads = found.read_units + found.verify_read_units
    writes = 2_000_000 * ON_DEMAND_USD_PER_MILLION_WRITE_UNITS / 1e6
    on_demand = reads * ON_DEMAND_USD_PER_MILLION_READ_UNITS / 1e6 + writes
    assert found.on_demand_usd == pytest.approx(on_demand)
    assert found.dynamodb_usd == pytest.approx(on_demand)  # both tables on demand
    assert found.provisioned_usd < found.on_demand_usd / 3  # capacity kept busy is cheaper (3.5x for writes)
    assert found.lambda_invocations == 8 * 2 + 5  # 1,000 s of copying: two turns per segment, then the steps
    assert found.lambda_gb_seconds == pytest.approx(8 * 1000 + 15.3 + 4 * 0.25, abs=0.1)  # 1 GB segments, verify
    assert found.total_usd == pytest.approx(found.dynamodb_usd + found.lambda_usd + found.step_functions_usd)
    assert found.state_transitions == 10 + 4 * 3 + 8 * (2 + 2 * 2)


def test_without_caps_the_segments_or_a_new_on_demand_table_set_the_pace() -> None:
    one = estimate(CopyShape(items=10_000, bytes=10_000 * 800, segments=1))
    many = estimate(CopyShape(items=10_000, bytes=10_000 * 800, segments=16))
    provisioned = estimate(
        CopyShape(items=10_000, bytes=10_000 * 800, segments=16, target_on_demand=False, target_write_capacity=500)
    )

    assert one.write_units_per_second == SEGMENT_WRITE_UNITS_PER_SECOND
    assert "segments" in one.limited_by
    assert many.write_units_per_second == NEW_ON_DEMAND_WRITE_UNITS_PER_SECOND
    assert provisioned.write_units_per_second == 500
    assert provisioned.limited_by == "the target's provisioned write capacity"
    writes = 10_000 / 3600 * PROVISIONED_USD_PER_WRITE_UNIT_HOUR
    reads = (one.read_units + one.verify_read_units) * ON_DEMAND_USD_PER_MILLION_READ_UNITS / 1e6
    assert provisioned.dynamodb_usd == pytest.approx(writes + reads)  # each table at its own billing mode


def test_an_empty_table_costs_the_steps_only() -> None:
    found = estimate(CopyShape(items=0, bytes=0, segments=4, verify="none", creates_target=False))

    assert (found.read_units, found.write_units, found.verify_read_units) == (0, 0, 0)
    assert found.on_demand_usd == 0
    assert found.lambda_invocations == 4 + 4
    assert found.seconds == 4.0


def test_an_append_verifies_by_reading_each_item_back() -> None:
    found = estimate(CopyShape(items=1000, bytes=1000 * 5000, segments=1, verify="checksum", append=True))

    assert found.verify_read_units == found.read_units + 1000 * 1.0  # 5,000 bytes: two 4 KiB units, halved


@given(
    items=st.integers(0, 10**9),
    item_bytes=st.integers(1, 400 * 1024),
    segments=st.integers(1, 500),
    cap=st.none() | st.floats(1, 1e6),
    gsis=st.integers(0, 20),
)
def test_more_data_never_costs_less_or_takes_less_time(
    items: int, item_bytes: int, segments: int, cap: float | None, gsis: int
) -> None:
    small = estimate(CopyShape(items, items * item_bytes, segments, max_write_units=cap, gsis=gsis))
    large = estimate(CopyShape(items * 2 + 1, (items * 2 + 1) * item_bytes, segments, max_write_units=cap, gsis=gsis))

    assert large.total_usd >= small.total_usd >= 0
    assert large.seconds >= small.seconds > 0
    assert large.write_units >= small.write_units
    assert small.write_units_per_second <= (cap or float("inf"))


def test_the_shape_comes_from_the_source_description_the_spec_and_the_request() -> None:
    request = CopyRequest.model_validate(
        {"source": {"table": "src"}, "target": {"table": "dst"}, "max_read_units": 100, "verify": "checksum"}
    )
    source = {
        "ItemCount": 42,
        "TableSizeBytes": 4200,
        "BillingModeSummary": {"BillingMode": "PROVISIONED"},
        "ProvisionedThroughput": {"ReadCapacityUnits": 50, "WriteCapacityUnits": 5},
    }
    spec = {
        "BillingMode": "PROVISIONED",
        "ProvisionedThroughput": {"ReadCapacityUnits": 50, "WriteCapacityUnits": 5},
        "GlobalSecondaryIndexes": [{"IndexName": "g"}],
    }

    shape = shape_of(request, source, spec, 2, 780.0)  # type: ignore[arg-type]

    assert shape == CopyShape(
        items=42,
        bytes=4200,
        segments=2,
        max_read_units=100,
        source_on_demand=False,
        target_on_demand=False,
        source_read_capacity=50,
        target_write_capacity=5,
        gsis=1,
        verify="checksum",
        time_budget_seconds=780.0,
    )
