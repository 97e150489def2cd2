"""status: two goiardi servers synced from one repository, compared, then drift injected
behind chef-sync's back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import chef_sync
import pytest
from goiardi_server import Goiardi
from seed_repo import make_repo, pivotal_key

COOKBOOKS = {
    "py_status_base": "name 'py_status_base'\nversion '1.0.0'\n",
}
ROLE: dict[str, object] = {"name": "py_status_web", "run_list": ["recipe[py_status_base]"]}


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[Goiardi, Goiardi]]:
    """Two servers of their own: status compares everything a server holds."""
    first, second = Goiardi.start(), Goiardi.start()
    yield first, second
    first.stop()
    second.stop()


def test_in_sync_after_a_sync_then_drift_then_an_unreadable_server(
    pair: tuple[Goiardi, Goiardi], tmp_path: Path
) -> None:
    first, second = pair
    repo = make_repo(
        tmp_path / "repo",
        {"us-east-1": first.url, "eu-west-1": second.url},
        cookbooks=COOKBOOKS,
    )
    (repo / "roles").mkdir()
    (repo / "roles" / "py_status_web.json").write_text(json.dumps(ROLE))
    keys = {"us-east-1": pivotal_key(first), "eu-west-1": pivotal_key(second)}
    synced = chef_sync.sync(repo, keys=keys)
    assert synced.ok, synced.to_json()

    report = chef_sync.status(repo, keys=keys)
    assert report.exit_code == 0, report.render_table()
    assert report.in_sync and not report.strict
    assert [s.name for s in report.servers] == ["eu-west-1", "us-east-1"]
    assert all(s.ok and s.error is None and s.cookbook_versions == 1 for s in report.servers)
    [cookbook] = report.cookbooks
    assert (cookbook.name, cookbook.version, cookbook.drift) == ("py_status_base", "1.0.0", [])
    assert [c.state for c in cookbook.servers] == ["match", "match"]
    assert all(c.frozen is True and c.digest == cookbook.repo for c in cookbook.servers)
    [role] = report.objects
    assert (role.kind, role.name, role.id) == ("role", "py_status_web", "role[py_status_web]")
    assert [c.state for c in role.servers] == ["match", "match"]
    data = report.to_dict()
    assert data == json.loads(report.to_json())
    assert data["exit_code"] == 0
    assert {"exit_code", "in_sync", "servers", "cookbooks", "objects", "warnings"} <= set(data)

    # Behind chef-sync's back: the role edited on eu-west-1 only.
    eu_client = chef_sync.ChefClient(second.url, "pivotal", keys["eu-west-1"])
    eu_client.put("/roles/py_status_web", {**ROLE, "description": "edited by hand"})

    async def status_async() -> chef_sync.StatusReport:
        return await chef_sync.status_async(repo, keys=keys)

    drift = asyncio.run(status_async())
    assert drift.exit_code == 2, drift.render_table()
    [role] = drift.objects
    assert role.drift == ["differs", "diverged"]
    assert [(c.server, c.state) for c in role.servers] == [
        ("eu-west-1", "differs"),
        ("us-east-1", "match"),
    ]
    assert "role[py_status_web]" in drift.render_table()

    only_cookbooks = chef_sync.status(repo, keys=keys, only=["cookbooks"])
    assert only_cookbooks.exit_code == 0 and only_cookbooks.objects == []
    with pytest.raises(ValueError, match="'nodes'"):
        chef_sync.status(repo, keys=keys, only=["nodes"])

    # A server whose key it does not accept cannot be read: exit 1, the other still compared.
    wrong = {"us-east-1": keys["us-east-1"], "eu-west-1": keys["us-east-1"]}
    unreadable = chef_sync.status(repo, keys=wrong, only=["cookbooks"])
    assert unreadable.exit_code == 1
    eu, us = unreadable.servers
    assert not eu.ok and eu.error is not None and "401" in eu.error.message
    # Typed as the sync report's errors, in the object and in to_dict().
    assert (eu.error.kind, eu.error.status, eu.error.server) == ("unauthorized", 401, "eu-west-1")
    assert eu.error.exception == "AuthenticationError"
    assert unreadable.to_dict()["servers"][0]["error"]["kind"] == "unauthorized"
    assert us.ok
    assert [c.state for c in unreadable.cookbooks[0].servers] == ["unknown", "match"]


def test_invalid_repository_objects_raise_config_error(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"eu": "http://127.0.0.1:1"}, keys={"eu": b""})
    (repo / "roles").mkdir()
    (repo / "roles" / "web.json").write_text('{"name": "web",\n  "run_list": [1, }\n')
    with pytest.raises(chef_sync.ConfigError) as info:
        chef_sync.status(repo)
    assert info.value.file is not None and info.value.file.endswith("web.json")
    assert info.value.line == 2
