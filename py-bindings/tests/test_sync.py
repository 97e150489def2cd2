"""sync of a repository in the seed's layout to two goiardi servers, and its report."""

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
    "py_sync_base": "name 'py_sync_base'\nversion '1.2.0'\n",
    "py_sync_app": "name 'py_sync_app'\nversion '0.1.0'\ndepends 'py_sync_base', '~> 1.2'\n",
}


@pytest.fixture(scope="module")
def second(goiardi: Goiardi) -> Iterator[Goiardi]:
    server = Goiardi.start()
    yield server
    server.stop()


def test_sync_to_two_servers_then_nothing_to_do(
    goiardi: Goiardi, second: Goiardi, tmp_path: Path
) -> None:
    repo = make_repo(
        tmp_path / "repo",
        {"us-east-1": goiardi.url, "eu-west-1": second.url},
        cookbooks=COOKBOOKS,
    )
    keys = {"us-east-1": pivotal_key(goiardi), "eu-west-1": pivotal_key(second)}

    planned = chef_sync.sync(repo, keys=keys, dry_run=True)
    assert planned.ok and planned.dry_run
    assert {c.outcome for s in planned.servers for c in s.cookbooks} == {"create"}

    report = chef_sync.sync(repo, keys=keys)
    assert report.ok, report.to_json()
    assert [s.name for s in report.servers] == ["eu-west-1", "us-east-1"]
    for server in report.servers:
        assert server.ok and server.error is None
        assert [(c.name, c.version, c.outcome) for c in server.cookbooks] == [
            ("py_sync_app", "0.1.0", "created"),
            ("py_sync_base", "1.2.0", "created"),
        ]
        assert server.files_sent == sum(c.files_sent for c in server.cookbooks) > 0
    assert any("U+00A0" in w for w in report.warnings)

    data = report.to_dict()
    assert data == json.loads(report.to_json())
    assert data["ok"] is True
    first = data["servers"][0]
    assert {"name", "url", "ok", "error", "cookbooks"} <= set(first)
    assert first["url"] == second.url
    assert {"name", "version", "outcome", "files_sent", "bytes_sent", "error"} <= set(
        first["cookbooks"][0]
    )
    for chef in (goiardi, second):
        client = chef_sync.ChefClient(chef.url, "pivotal", pivotal_key(chef))
        landed = client.get("/cookbooks/py_sync_app/0.1.0")
        assert landed["version"] == "0.1.0"
        assert landed["frozen?"] is True, "a Berksfile repo is frozen, as berks upload does"

    async def sync_eu() -> chef_sync.SyncReport:
        return await chef_sync.sync_async(repo, keys=keys, servers=["eu-west-1"])

    again = asyncio.run(sync_eu())
    assert [s.name for s in again.servers] == ["eu-west-1"]
    assert {c.outcome for c in again.servers[0].cookbooks} == {"unchanged"}
    assert again.servers[0].files_sent == 0


def test_a_server_with_the_wrong_key_fails_alone(
    goiardi: Goiardi, second: Goiardi, tmp_path: Path
) -> None:
    repo = make_repo(
        tmp_path / "repo",
        {"good": goiardi.url, "bad": second.url},
        cookbooks={"py_sync_alone": "name 'py_sync_alone'\nversion '3.0.0'\n"},
    )
    keys = {"good": pivotal_key(goiardi), "bad": pivotal_key(goiardi)}
    report = chef_sync.sync(repo, keys=keys)
    assert report.ok is False
    by_name = {s.name: s for s in report.servers}
    assert by_name["good"].ok
    assert [c.outcome for c in by_name["good"].cookbooks] == ["created"]
    bad = by_name["bad"]
    assert bad.ok is False
    error = bad.error
    assert error is not None and "401" in str(error)
    assert (error.kind, error.exception, error.status) == (
        "unauthorized",
        "AuthenticationError",
        401,
    )
    assert error.server == "bad"
    assert error.url is not None and error.url.startswith(second.url)
    assert "as pivotal with a key given as bytes" in error.message
    as_dict = report.to_dict()["servers"][0]
    assert as_dict["ok"] is False
    assert as_dict["error"]["kind"] == "unauthorized"
    assert as_dict["error"]["status"] == 401
    assert as_dict["error"] == error.to_dict()


def test_repository_errors_raise_config_error(tmp_path: Path) -> None:
    with pytest.raises(chef_sync.ConfigError):
        chef_sync.sync(tmp_path / "missing")
    repo = make_repo(tmp_path / "repo", {"eu": "http://127.0.0.1:1"}, keys={"eu": b""})
    with pytest.raises(chef_sync.ConfigError, match="nope"):
        chef_sync.sync(repo, servers=["nope"])
    (repo / "cookbooks" / "app" / "metadata.rb").write_text("name 'app'\n`id`\n")
    with pytest.raises(chef_sync.ConfigError) as info:
        chef_sync.sync(repo, keys={"eu": b"-----BEGIN RSA PRIVATE KEY-----\n"})
    assert info.value.file is not None


def test_berksfile_update_moves_a_locked_cookbook_and_offline_needs_no_network(
    goiardi: Goiardi, tmp_path: Path
) -> None:
    repo = make_repo(
        tmp_path / "repo",
        {"us-east-1": goiardi.url},
        cookbooks={
            "py_berks_app": "name 'py_berks_app'\nversion '1.0.0'\ndepends 'py_berks_lib', '~> 1.0'\n"
        },
    )
    shared = tmp_path / "shared" / "cookbooks"
    for version in ("1.0.0",):
        book = shared / f"py_berks_lib-{version}"
        book.mkdir(parents=True)
        (book / "metadata.rb").write_text(f"name 'py_berks_lib'\nversion '{version}'\n")
    berksfile = repo / "Berksfile"
    berksfile.write_text("source chef_repo: '../shared'\n" + berksfile.read_text())
    keys = {"us-east-1": pivotal_key(goiardi)}
    cache = tmp_path / "cache"

    first = chef_sync.sync(repo, keys=keys, cache_dir=cache)
    assert first.ok, first.to_json()
    lock = (repo / "Berksfile.lock").read_text()
    assert "  py_berks_lib (1.0.0)\n" in lock

    # A newer version appears: the lock keeps 1.0.0 until asked to update.
    newer = shared / "py_berks_lib-1.1.0"
    newer.mkdir()
    (newer / "metadata.rb").write_text("name 'py_berks_lib'\nversion '1.1.0'\n")
    kept = chef_sync.sync(repo, keys=keys, cache_dir=cache, offline=True)
    assert kept.ok, kept.to_json()
    assert (repo / "Berksfile.lock").read_text() == lock
    assert {c.outcome for c in kept.servers[0].cookbooks} == {"unchanged"}

    updated = chef_sync.sync(repo, keys=keys, cache_dir=cache, update=["py_berks_lib"])
    assert updated.ok, updated.to_json()
    assert "  py_berks_lib (1.1.0)\n" in (repo / "Berksfile.lock").read_text()
    outcomes = {(c.name, c.version): c.outcome for c in updated.servers[0].cookbooks}
    assert outcomes[("py_berks_lib", "1.1.0")] == "created"

    with pytest.raises(TypeError, match="list of cookbook names"):
        chef_sync.sync(repo, keys=keys, update="py_berks_lib")


def test_roles_environments_and_data_bags_with_only_and_purge(
    goiardi: Goiardi, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", {"us-east-1": goiardi.url}, cookbooks=COOKBOOKS)
    (repo / "roles").mkdir()
    (repo / "roles" / "py_web.json").write_text('{"run_list": ["py_sync_app"]}')
    (repo / "environments").mkdir()
    (repo / "environments" / "py_prod.rb").write_text(
        "name 'py_prod'\ncookbook 'py_sync_base', '~> 1.2'\n"
    )
    (repo / "data_bags" / "py_users").mkdir(parents=True)
    (repo / "data_bags" / "py_users" / "ann.json").write_text('{"id": "ann"}')
    keys = {"us-east-1": pivotal_key(goiardi)}
    client = chef_sync.ChefClient(goiardi.url, "pivotal", pivotal_key(goiardi))
    client.post("/roles", {"name": "py_stray"})

    only = chef_sync.sync(repo, keys=keys, only=["roles"])
    assert only.ok, only.to_json()
    (server,) = only.servers
    assert server.cookbooks == []
    assert [(o.kind, o.name, o.outcome) for o in server.objects] == [
        ("role", "py_web", "created")
    ]
    assert server.objects[0].ok and server.objects[0].error is None

    planned = chef_sync.sync(repo, keys=keys, dry_run=True, purge=True)
    outcomes = {(o.kind, o.name): o.outcome for o in planned.servers[0].objects}
    assert outcomes[("role", "py_stray")] == "delete"
    assert outcomes[("environment", "py_prod")] == "create"
    assert outcomes[("data_bag_item", "py_users/ann")] == "create"
    assert outcomes[("role", "py_web")] == "unchanged"
    plan = planned.plan()
    assert plan["servers"] == ["us-east-1"]
    rows = {(r["kind"], r["name"]): r["cells"] for r in plan["objects"]}
    assert rows[("role", "py_stray")] == ["delete"]
    assert rows[("data_bag_item", "py_users/ann")] == ["create"]
    assert [row[0] for row in plan["rows"]] == [
        ["py_sync_app", "0.1.0"],
        ["py_sync_base", "1.2.0"],
    ]

    report = chef_sync.sync(repo, keys=keys, purge=True)
    assert report.ok, report.to_json()
    assert "py_stray" not in client.get("/roles")
    assert client.get("/environments/py_prod")["cookbook_versions"] == {
        "py_sync_base": "~> 1.2"
    }
    assert report.to_dict()["servers"][0]["objects"][0]["kind"] == "data_bag"

    with pytest.raises(ValueError, match="nodes"):
        chef_sync.sync(repo, keys=keys, only=["nodes"])
    (repo / "roles" / "bad.json").write_text('{"name": "other"}')
    with pytest.raises(chef_sync.ConfigError) as info:
        chef_sync.sync(repo, keys=keys)
    assert info.value.file is not None and info.value.file.endswith("bad.json")
    assert info.value.line == 1, "the typed position of the invalid file"
