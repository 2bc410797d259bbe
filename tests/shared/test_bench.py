"""The benchmarks stay runnable: each runs at a small size and checks its own results (figures are not asserted)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.endpoint


@pytest.mark.parametrize(
    ("module", "printed"),
    [
        ("bench.copy", "CPU-seconds per item"),
        ("bench.restore_verify", "CPU-seconds: "),
        ("bench.apply", "CPU-seconds per item"),
    ],
)
def test_a_benchmark_runs_at_a_small_size(module: str, printed: str) -> None:
    env = {**os.environ, "BENCH_ITEMS": "300", "BENCH_WCU": "100", "BENCH_RUNS": "1"}
    done = subprocess.run(  # noqa: S603 - the benchmark under test
        [sys.executable, "-m", module], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert printed in done.stdout
