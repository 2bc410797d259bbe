"""Where the stack the embedded runtime runs comes from: template.yaml, statemachines/ and functions/.

An installed package carries its own copy (ddbkeeper/project/, bundled by setup.py), so `ddbkeeper run ... --local`
works from any folder; an editable install runs the checkout it lives in. `--project` overrides both.
"""

from __future__ import annotations

from pathlib import Path

import ddbkeeper
from ddbkeeper.errors import InvalidInput

PACKAGE = Path(ddbkeeper.__file__).resolve().parent
BUNDLED = PACKAGE / "project"  # a built wheel's copy of the stack
CHECKOUT = PACKAGE.parents[2]  # layers/core/ddbkeeper -> the repository, for an editable install


def is_project(folder: Path) -> bool:
    return (folder / "template.yaml").is_file() and (folder / "statemachines").is_dir()


def project_root(given: Path | None = None) -> Path:
    """The folder holding template.yaml and statemachines/: `given` (or the nearest folder above it that does), else
    the package's own stack."""
    if given is not None:
        for folder in (given.resolve(), *given.resolve().parents):
            if is_project(folder):
                return folder
        raise InvalidInput(f"--project: no template.yaml with statemachines/ in {given} or above")
    for folder in (BUNDLED, CHECKOUT):
        if is_project(folder):
            return folder
    raise InvalidInput(f"--project: this installation of ddbkeeper carries no stack ({BUNDLED}); name a checkout")
