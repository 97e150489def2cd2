"""install_policy and push_policy: a Policyfile locked without Ruby, then published."""

from __future__ import annotations

import json
from pathlib import Path

import chef_sync
import pytest
from goiardi_server import Goiardi
from seed_repo import make_repo, pivotal_key


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def policy_repo(tmp_path: Path) -> Path:
    root = tmp_path / "policy"
    write(root / "cookbooks/web/metadata.rb", "name 'web'\nversion '0.3.0'\n")
    write(root / "cookbooks/web/recipes/default.rb", "log 'hi'\n")
    write(
        root / "Policyfile.rb",
        'name "site"\nrun_list "web"\ncookbook "web", path: "cookbooks/web"\n'
        'default["greeting"] = "hello"\n',
    )
    return root


def test_install_policy_writes_the_lock_then_finds_it(tmp_path: Path) -> None:
    root = policy_repo(tmp_path)
    first = chef_sync.install_policy(root / "Policyfile.rb", cache_dir=tmp_path / "cache")
    assert first["written"] is True
    lock_path = Path(first["lock_path"])
    assert lock_path == root / "Policyfile.lock.json"
    on_disk = json.loads(lock_path.read_text())
    assert on_disk == first["lock"]
    assert on_disk["revision_id"] == first["revision_id"]
    assert on_disk["run_list"] == ["recipe[web::default]"]
    assert on_disk["cookbook_locks"]["web"]["source"] == "cookbooks/web"
    assert on_disk["default_attributes"] == {"greeting": "hello"}
    again = chef_sync.install_policy(root / "Policyfile.rb", cache_dir=tmp_path / "cache")
    assert again["written"] is False
    assert again["revision_id"] == first["revision_id"]


def test_install_policy_names_the_policyfile_line(tmp_path: Path) -> None:
    root = policy_repo(tmp_path)
    write(root / "Policyfile.rb", 'name "x"\nrun_list "web"\nsystem("id")\n')
    with pytest.raises(chef_sync.ConfigError) as raised:
        chef_sync.install_policy(root / "Policyfile.rb", cache_dir=tmp_path / "cache")
    assert raised.value.line == 3


def test_push_policy_reports_a_server_without_policy_endpoints(
    goiardi: Goiardi, tmp_path: Path
) -> None:
    # goiardi serves no cookbook_artifacts or policy groups: the server fails in the report,
    # nothing raises, and the report says why.
    repo = make_repo(tmp_path / "repo", {"us-east-1": goiardi.url})
    root = policy_repo(tmp_path)
    write(repo / "cookbooks/web/metadata.rb", "name 'web'\nversion '0.3.0'\n")
    write(repo / "cookbooks/web/recipes/default.rb", "log 'hi'\n")
    write(repo / "Policyfile.rb", (root / "Policyfile.rb").read_text())
    chef_sync.install_policy(repo / "Policyfile.rb", cache_dir=tmp_path / "cache")
    report = chef_sync.push_policy(
        repo,
        policy_group="staging",
        keys={"us-east-1": pivotal_key(goiardi)},
        cache_dir=tmp_path / "cache",
    )
    assert not report.ok
    server = report.to_dict()["servers"][0]
    assert server["name"] == "us-east-1"
    assert server["error"] and "cookbook_artifacts" in server["error"]
    assert json.loads(report.to_json())["ok"] is False
    assert report.group_disagreements() == []


def test_push_policy_without_a_lock_raises_config_error(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"us-east-1": "http://127.0.0.1:9"})
    key = Path(__file__).resolve().parents[2] / "tests/data/keys/mixlib-spec.pem"
    with pytest.raises(chef_sync.ConfigError) as raised:
        chef_sync.push_policy(repo, policy_group="prod", keys={"us-east-1": key.read_bytes()})
    assert "Policyfile.lock.json" in str(raised.value)


def test_a_dry_run_push_says_so_and_status_has_no_policies_on_goiardi(
    goiardi: Goiardi, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", {"us-east-1": goiardi.url})
    write(repo / "cookbooks/web/metadata.rb", "name 'web'\nversion '0.3.0'\n")
    write(repo / "cookbooks/web/recipes/default.rb", "log 'hi'\n")
    write(
        repo / "Policyfile.rb",
        'name "site"\nrun_list "web"\ncookbook "web", path: "cookbooks/web"\n',
    )
    chef_sync.install_policy(repo / "Policyfile.rb", cache_dir=tmp_path / "cache")
    keys = {"us-east-1": pivotal_key(goiardi)}
    report = chef_sync.push_policy(
        repo, policy_group="staging", keys=keys, cache_dir=tmp_path / "cache", dry_run=True
    )
    assert report.dry_run is True
    assert report.to_dict()["dry_run"] is True
    # goiardi has no cookbook_artifacts listing: even a dry run cannot say what it would send.
    assert not report.ok
    # goiardi answers `null` on policy_groups: no policies, not an unreadable server.
    status = chef_sync.status(repo, keys=keys, only=["cookbooks"])
    assert status.policies == []
    assert all(s.ok for s in status.servers)
