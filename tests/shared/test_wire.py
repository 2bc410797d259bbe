"""The wire form's shared helpers (pure): one key identity and one to_wire for every path that needs them."""

from __future__ import annotations

import gc
import threading

import pytest
from ddbkeeper.local import exports
from ddbkeeper.restore import repair
from ddbkeeper.wire import BULK_COLLECTION_THRESHOLD, fewer_collections, key_id, to_wire

pytestmark = pytest.mark.pure


def test_a_key_is_the_same_key_whatever_else_the_item_holds_and_in_whatever_order() -> None:
    one = {"pk": {"S": "a"}, "sk": {"N": "1"}, "tags": {"SS": ["x", "y"]}}
    other = {"sk": {"N": "1"}, "pk": {"S": "a"}}
    assert key_id(one, ["pk", "sk"]) == key_id(other, ["pk", "sk"])
    assert key_id(one, ["pk", "sk"]) != key_id({"pk": {"S": "a"}, "sk": {"N": "2"}}, ["pk", "sk"])
    assert key_id({"pk": {"B": "YQ=="}}, ["pk"]) != key_id({"pk": {"S": "YQ=="}}, ["pk"])  # the type is the key's


def test_binary_becomes_base64_text_at_any_depth_and_there_is_one_to_wire() -> None:
    item = {"id": {"B": b"\x00\x01"}, "m": {"M": {"bs": {"BS": [b"a", bytearray(b"b")]}}}, "l": {"L": [{"S": "s"}]}}
    assert to_wire(item) == {
        "id": {"B": "AAE="},
        "m": {"M": {"bs": {"BS": ["YQ==", "Yg=="]}}},
        "l": {"L": [{"S": "s"}]},
    }
    assert exports.to_wire is repair.to_wire is to_wire


def test_cycles_are_collected_less_often_while_any_thread_handles_items_in_bulk_and_as_before_after() -> None:
    before = gc.get_threshold()
    inside, leave = threading.Event(), threading.Event()

    def parse() -> None:
        with fewer_collections():
            inside.set()
            leave.wait(5)

    other = threading.Thread(target=parse)
    other.start()
    inside.wait(5)
    with fewer_collections():
        assert gc.get_threshold() == (BULK_COLLECTION_THRESHOLD, *before[1:])
    assert gc.get_threshold()[0] == BULK_COLLECTION_THRESHOLD  # the other thread still parses
    leave.set()
    other.join(5)
    assert gc.get_threshold() == before
    assert gc.isenabled()
