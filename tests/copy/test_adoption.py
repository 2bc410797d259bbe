"""Resuming a create: the target the interrupted run made is adopted; nothing else is."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from ddbkeeper.cli.runs import LocalRun
from ddbkeeper.copy.adoption import check_adoptable, owner, owns
from ddbkeeper.copy.models import CopyRequest
from ddbkeeper.errors import InvalidInput, TargetExists
from ddbkeeper.models import Execution, parse

pytestmark = pytest.mark.pure

NOW = Execution(name="copy-second", started_at=datetime(2026, 11, 24, tzinfo=UTC))
BASE = {"source": {"table": "orders"}, "target": {"table": "orders-copy"}}
START = {"segment": 0, "total_segments": 2}


def request(**fields: object) -> CopyRequest:
    return parse(CopyRequest, BASE | fields)


def test_a_resumed_create_owns_only_the_earlier_runs_table_of_this_stack() -> None:
    resumed = request(resumes="copy-first")
    earlier = {"ddbkeeper:execution": "copy-first", "ddbkeeper:managed-by": "ddbkeeper"}

    assert owner(resumed, NOW) == "copy-first"  # a table it creates carries the chain's first name
    assert owns(earlier, resumed, NOW, "ddbkeeper")
    assert not owns(earlier, resumed, NOW, "other-stack")
    assert not owns(
        {"ddbkeeper:execution": "copy-second", "ddbkeeper:managed-by": "ddbkeeper"}, resumed, NOW, "ddbkeeper"
    )
    assert owns({"ddbkeeper:execution": "copy-second"}, request(), NOW, "ddbkeeper")  # not resuming: as before
    check_adoptable(earlier, resumed, "ddbkeeper", "orders-copy")
    with pytest.raises(TargetExists, match="not created by the run this one resumes"):
        check_adoptable({}, resumed, "ddbkeeper", "orders-copy")


def test_resume_goes_with_append_or_with_a_create_that_names_the_run_it_resumes() -> None:
    assert request(resumes="copy-first", resume=[START, START | {"segment": 1}]).resume is not None
    with pytest.raises(InvalidInput, match="or mode create with resumes naming the execution"):
        request(resume=[START])
    with pytest.raises(InvalidInput, match="resumes goes with mode create"):
        request(mode="append", confirm_append="orders-copy", resumes="copy-first")
    with pytest.raises(InvalidInput, match=r"resume\.1\.total_segments"):
        request(resumes="copy-first", resume=[START, {"segment": 1, "total_segments": 3}])


def test_a_journal_resumes_with_every_segments_checkpoint_and_the_first_runs_name(tmp_path: Path) -> None:
    payload = {**BASE, "mode": "recreate", "confirm_recreate": "orders-copy", "segments": 2}
    first = LocalRun.begin(tmp_path, "copy-first", payload, command=["--project", "/p q"])
    first.observe("PlanCopyFunction", {"plan": {"total_segments": 2, "segments": [START, START | {"segment": 1}]}})
    first.observe("CopySegmentFunction", START | {"items": 250, "exclusive_start_key": {"pk": {"S": "k"}}})
    first.finish("INTERRUPTED")

    loaded = LocalRun.load(tmp_path, "last")
    resumed = loaded.resume_payload()

    assert loaded.copied() == (250, 0, 2)
    assert resumed["mode"] == "create" and resumed["resumes"] == "copy-first"  # past the drop: adopt, never drop
    assert "confirm_recreate" not in resumed and "segments" not in resumed
    assert [c["segment"] for c in resumed["resume"]] == [0, 1]
    assert resumed["resume"][0]["exclusive_start_key"] == {"pk": {"S": "k"}}
    assert request(**{k: v for k, v in resumed.items() if k not in BASE}).resumes == "copy-first"
    assert loaded.resume_command() == "ddbkeeper run copy --local --project '/p q' --resume copy-first"
    second = LocalRun.begin(tmp_path, "copy-second", resumed, command=[], previous=loaded)
    assert second.resume_payload()["resumes"] == "copy-first"  # a resume of a resume continues the same table
    second.finish("FAILED")
    third = LocalRun.begin(tmp_path, "copy-third", second.resume_payload(), command=[], previous=second)
    assert sorted(path.stem for path in tmp_path.glob("*.json")) == ["copy-first", "copy-second", "copy-third"]
    third.finish("SUCCEEDED")
    assert list(tmp_path.glob("*")) == []  # the chain finished: nothing left to resume
