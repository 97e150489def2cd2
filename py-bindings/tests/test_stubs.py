"""The hand-written stubs match the built module, and the typed code type-checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PY_BINDINGS = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=PY_BINDINGS,
        capture_output=True,
        text=True,
        check=False,
    )


def test_stubtest_finds_no_mismatch() -> None:
    result = run("mypy.stubtest", "chef_sync")
    assert result.returncode == 0, result.stdout + result.stderr


def test_package_and_its_tests_type_check_strictly() -> None:
    result = run("mypy", "python/chef_sync", "tests")
    assert result.returncode == 0, result.stdout + result.stderr


def test_handler_deploy_and_their_tests_type_check_strictly() -> None:
    # A separate run: both test folders have a conftest module.
    result = run(
        "mypy",
        "../examples/lambda/handler.py",
        "../examples/lambda/tests",
        "../deploy/tests",
        "../deploy/package.py",
    )
    assert result.returncode == 0, result.stdout + result.stderr
