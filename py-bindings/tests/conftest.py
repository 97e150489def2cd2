"""Fixtures: local goiardi Chef servers and clients signed as their admin."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import chef_sync
from goiardi_server import ADMIN, Goiardi


@pytest.fixture(scope="session")
def goiardi() -> Iterator[Goiardi]:
    """One goiardi for the whole session; tests use distinct object names."""
    server = Goiardi.start()
    yield server
    server.stop()


@pytest.fixture
def admin(goiardi: Goiardi) -> chef_sync.ChefClient:
    """A client signed as goiardi's admin user, with retries off so failures are quick."""
    return chef_sync.ChefClient(goiardi.url, ADMIN, goiardi.admin_pem, retries=0)
