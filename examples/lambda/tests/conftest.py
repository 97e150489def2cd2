"""Fixtures for the Lambda handler tests (defined in :mod:`lambda_testing`, which the tests
import by name; a module called ``conftest`` would clash with py-bindings' own), and local
goiardi servers (from py-bindings' test helpers)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[2] / "py-bindings" / "tests"))

from goiardi_server import Goiardi
from lambda_testing import aws

__all__ = ["aws", "goiardi_pair"]


@pytest.fixture(scope="session")
def goiardi_pair() -> Iterator[tuple[Goiardi, Goiardi]]:
    """Two goiardi servers standing in for two regions."""
    first = Goiardi.start()
    try:
        second = Goiardi.start()
    except BaseException:
        first.stop()
        raise
    yield first, second
    second.stop()
    first.stop()
