"""The restore's Maps over an export's data files, as statemachines/restore.asl.json declares them, and how a
request's write cap is shared among the files applied at once."""

from __future__ import annotations

import json

import pytest
from ddbkeeper.restore.files import MAX_CONCURRENT_FILES, file_cap

from tests.support import ROOT

pytestmark = pytest.mark.pure
MACHINE = json.loads((ROOT / "statemachines" / "restore.asl.json").read_text())["States"]


def test_the_new_table_and_the_scratch_table_maps_run_the_same_children_from_a_list_in_s3() -> None:
    """Apply Export Files and its scratch twin: the same children (named apart: state names are unique in a machine),
    the list read with ItemReader, no result kept in the state, at most MAX_CONCURRENT_FILES files at once; only the
    scratch table's has a Catch (its clean-up), the other is redriven."""
    main, scratch = MACHINE["Apply Export Files"], MACHINE["Apply Scratch Export Files"]
    children = json.loads(json.dumps(scratch["ItemProcessor"]).replace("Scratch File", "File"))
    assert children == main["ItemProcessor"]
    assert main["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    for state in (main, scratch):
        assert state["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
        assert state["ItemReader"]["ReaderConfig"] == {"InputType": "JSON"}
        assert state["MaxConcurrency"] == MAX_CONCURRENT_FILES
        assert state["ResultPath"] is None
        assert "ItemsPath" not in state and "ResultWriter" not in state and "ItemBatcher" not in state
    assert (main["Next"], scratch["Next"]) == ("List Export Files", "List Scratch Export Files")
    assert "Catch" not in main and scratch["Catch"][0]["Next"] == "Start Dropping"
    assert MACHINE["List Scratch Export Files"]["Catch"][0]["Next"] == "Start Dropping"


@pytest.mark.parametrize(
    ("cap", "files", "share"),
    [(None, 5, None), (400.0, 1, 400.0), (400.0, 4, 100.0), (400.0, 0, 400.0), (400.0, 4000, 10.0)],
)
def test_a_cap_is_divided_among_the_files_applied_at_once(cap: float | None, files: int, share: float | None) -> None:
    assert file_cap(cap, files) == share
    if share is not None and cap is not None:
        assert share * min(max(files, 1), MAX_CONCURRENT_FILES) == pytest.approx(cap)
