"""dynalite (npm, installed by `make dev` into node_modules/) as a second, independent DynamoDB backend."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dynalite_available(root: Path) -> bool:
    return (root / "node_modules" / ".bin" / "dynalite").exists() and shutil.which("node") is not None


class Dynalite:
    """Runs node_modules/.bin/dynalite on a free loopback port, in memory, tables ACTIVE at once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Dynalite:
        if not dynalite_available(self.root):
            raise RuntimeError("dynalite is not installed: run `make dev` (npm ci) first")
        command = [
            str(self.root / "node_modules" / ".bin" / "dynalite"),
            "--host", "127.0.0.1", "--port", str(self.port),
            "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0",
        ]  # fmt: skip
        self._process = subprocess.Popen(  # noqa: S603 - the project's own dev dependency
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._answers():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dynalite did not answer on {self.url} within 30 s")

    def _answers(self) -> bool:
        request = urllib.request.Request(  # noqa: S310 - loopback only
            self.url,
            data=json.dumps({}).encode(),
            headers={
                "X-Amz-Target": "DynamoDB_20120810.ListTables",
                "Content-Type": "application/x-amz-json-1.0",
                "Authorization": "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/dynamodb/aws4_request, "
                "SignedHeaders=host, Signature=x",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=1):  # noqa: S310
                return True
        except urllib.error.HTTPError:
            return True  # it answered, even if it did not like the request
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def stop(self) -> None:
        if self._process is None:
            return
        try:
            os.killpg(self._process.pid, signal.SIGTERM)
            self._process.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            self._process.kill()
        self._process = None

    def __enter__(self) -> Dynalite:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
