"""statelint with the one field of the States language it does not know yet.

statelint 3.1.0 (the newest) has no `InputType` in an ItemReader's ReaderConfig, which Step Functions requires to read a
JSON list from S3 (`"ReaderConfig": {"InputType": "JSON"}`; the developer guide's ItemReader page); everything else is
statelint's own. `make lint` runs this instead of the bare command:
`python -m tests.support.statelint --ignore=... FILES`. Drop it when statelint learns the field.
"""

from __future__ import annotations

import sys
from typing import Any

from statelint.cli import main
from statelint.fields.str_field import EnumStrField
from statelint.nodes import map_state

INPUT_TYPE = EnumStrField("InputType", ["CSV", "JSON", "JSONL", "PARQUET", "MANIFEST"])


class ReaderConfig(map_state.ReaderConfig):
    @property
    def optional_fields(self) -> list[Any]:
        return [*super().optional_fields, INPUT_TYPE]


map_state.ReaderConfig = ReaderConfig  # type: ignore[misc]  # ItemReader.validate looks it up in its module

if __name__ == "__main__":
    sys.exit(main())
