"""Bundles the stack into the package: template.yaml, the state machines and the handlers ship as package data
(ddbkeeper/project/), so an installed `ddbkeeper run ... --local` works from any folder. Everything else is in
pyproject.toml; an editable install runs from the checkout itself and bundles nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# What the embedded runtime reads: the template, each DefinitionUri, each CodeUri's handler (as MANIFEST.in).
BUNDLED = ("template.yaml", "statemachines/*.asl.json", "functions/*/app.py")


class BuildPyWithStack(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        project = Path(self.build_lib) / "ddbkeeper" / "project"
        for pattern in BUNDLED:
            for source in sorted(ROOT.glob(pattern)):
                copied = project / source.relative_to(ROOT)
                copied.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, copied)


setup(cmdclass={"build_py": BuildPyWithStack})
