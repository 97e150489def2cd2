"""repo_clients: a repository in the seed's layout becomes one ChefClient per server."""

from __future__ import annotations

import logging
from pathlib import Path

import chef_sync
import pytest
from goiardi_server import Goiardi
from seed_repo import PIVOTAL, make_repo, pivotal_key


def test_seed_layout_gives_one_client_per_server(
    goiardi: Goiardi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = pivotal_key(goiardi)
    repo = make_repo(
        tmp_path / "repo",
        {"us-east-1": goiardi.url, "eu-west-1": goiardi.url + "/"},
        keys={"us-east-1": key, "eu-west-1": key},
    )
    with caplog.at_level(logging.WARNING, logger="chef_sync"):
        clients = chef_sync.repo_clients(repo)
    assert sorted(clients) == ["eu-west-1", "us-east-1"]
    for client in clients.values():
        assert client.client_name == PIVOTAL
        assert isinstance(client.nodes(), dict)
    # The seed's knife.rb was pasted with U+00A0 no-break spaces: read, with a warning per line.
    nbsp = [r.getMessage() for r in caplog.records if "U+00A0" in r.getMessage()]
    assert nbsp and all("knife.rb:" in m for m in nbsp), caplog.text

    only = chef_sync.repo_clients(repo, servers=["eu-west-1"])
    assert list(only) == ["eu-west-1"]


def test_injected_keys_replace_missing_key_files(goiardi: Goiardi, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"prod": goiardi.url})
    with pytest.raises(chef_sync.ConfigError) as info:
        chef_sync.repo_clients(repo)
    assert info.value.server == "prod"
    assert info.value.file is not None and info.value.file.endswith("prod/private.pem")
    clients = chef_sync.repo_clients(repo, keys={"prod": pivotal_key(goiardi)})
    assert "prod" in clients and isinstance(clients["prod"].nodes(), dict)


def test_bad_knife_rb_names_file_line_and_server(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"eu": "http://127.0.0.1:1"}, keys={"eu": b"x"})
    knife = repo / ".chef" / "knife.rb"
    knife.write_text(knife.read_text() + "\n`curl http://evil`\n")
    lines = knife.read_text().count("\n")
    with pytest.raises(chef_sync.ConfigError) as info:
        chef_sync.repo_clients(repo)
    err = info.value
    assert err.file is not None and err.file.endswith("knife.rb")
    assert err.line == lines
    assert err.server == "eu"
    assert f"knife.rb:{lines}" in str(err)


def test_unknown_server_and_missing_repo(goiardi: Goiardi, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"prod": goiardi.url}, keys={"prod": b""})
    with pytest.raises(chef_sync.ConfigError, match="unknown server 'nope'"):
        chef_sync.repo_clients(repo, servers=["nope"])
    with pytest.raises(chef_sync.ConfigError) as info:
        chef_sync.repo_clients(tmp_path / "missing")
    assert info.value.file is not None
