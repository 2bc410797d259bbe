"""The CLI as a user installs it: the wheel in a fresh virtual environment outside the repository, run from a folder
that holds no template. The stack (template.yaml, state machines, handlers) ships inside the package.

Lean on purpose: the wheel is built without isolation and installed without its dependencies into a venv that sees the
test environment's packages through a .pth line (a path, not a site folder: the checkout's editable install stays out).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import boto3
import pytest

from tests.support import ROOT, Client

pytestmark = pytest.mark.endpoint

SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "template.yaml", "statemachines", "functions", "layers/core")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the built wheel installed; its bin folder."""
    base = tmp_path_factory.mktemp("install")
    checkout = base / "checkout"
    for name in SOURCES:  # a copy: building leaves build/ and egg-info behind, never in the repository
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, checkout / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            checkout.mkdir(exist_ok=True)
            shutil.copyfile(source, checkout / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    built = subprocess.run(  # noqa: S603 - pip on our own sources
        [*pip, "wheel", str(checkout), "--no-deps", "--no-build-isolation", "-w", str(base / "dist")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (base / "dist").glob("ddbkeeper-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)  # noqa: S603
    python = venv / "bin" / "python"
    purelib = subprocess.run(  # noqa: S603
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = subprocess.run(  # noqa: S603
        [*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return venv / "bin"


def user(bin_folder: Path, folder: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """A command of the installed venv, run in `folder`, with nothing of the checkout on the path."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"} | variables
    return subprocess.run(  # noqa: S603 - the installed CLI under test
        [str(bin_folder / args[0]), *args[1:]],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_installed_cli_runs_a_backup_locally_from_any_folder(
    installed: Path, tmp_path: Path, endpoint: str, remote: Client
) -> None:
    remote.create_table(
        TableName="anywhere-orders",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    where = user(installed, tmp_path, "python", "-c", "import ddbkeeper; print(ddbkeeper.__file__)")
    assert where.stdout.startswith(str(installed.parent)), where  # the wheel's copy, not the checkout's
    version = user(installed, tmp_path, "ddbkeeper", "--version")
    assert version.stdout.strip() == "ddbkeeper 0.1.0"

    done = user(
        installed,
        tmp_path,
        "ddbkeeper",
        "run",
        "backup",
        "--local",
        "--json",
        "--input",
        json.dumps({"tables": ["anywhere-orders"]}),
        AWS_ENDPOINT_URL=endpoint,
    )

    assert done.returncode == 0, done.stderr
    (line,) = json.loads(done.stdout)["tables"]
    assert line["status"] == "SUCCEEDED"
    assert [b["BackupName"] for b in remote.list_backups(TableName="anywhere-orders")["BackupSummaries"]] == [
        line["backup_name"]
    ]
    assert "Warning" not in done.stderr  # library warnings go to the handler log, not to the screen
    assert list(tmp_path.iterdir()) == []  # nothing written where it ran


def test_the_installed_cli_refuses_a_bad_input_before_the_runtime_starts(
    installed: Path, tmp_path: Path, endpoint: str
) -> None:
    """The workflow's own model refuses it: exit 1, the field named, and moto (the runtime) is never even imported."""
    bad = json.dumps({"tables": ["orders"], "retention": {"keep_last": -1}})

    done = user(
        installed,
        tmp_path,
        "python",
        "-X",
        "importtime",
        "-m",
        "ddbkeeper.cli",
        "run",
        "backup",
        "--local",
        "--input",
        bad,
        AWS_ENDPOINT_URL=endpoint,
    )

    assert done.returncode == 1
    assert "InvalidInput: retention.keep_last: Input should be greater than or equal to 0" in done.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time")}
    assert "ddbkeeper.models" in imported
    assert not {name for name in imported if name.split(".")[0] in ("moto", "werkzeug", "flask")}
    tables = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1").list_tables()["TableNames"]
    assert "orders" not in tables
