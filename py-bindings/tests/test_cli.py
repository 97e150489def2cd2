"""The ``chef-sync`` command line through the extension module: ``python -m chef_sync`` and
``chef_sync.main`` run the Rust CLI, with the binary's outputs and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import chef_sync
from chef_sync._chef_sync import main
from goiardi_server import Goiardi
from seed_repo import make_repo, pivotal_key


def run_module(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chef_sync", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=cwd,
    )


def test_version_is_the_package_version() -> None:
    result = run_module("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"chef-sync {chef_sync.__version__}\n"


def test_sync_json_prints_only_the_report_on_stdout(goiardi: Goiardi, tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "repo",
        {"only": goiardi.url},
        keys={"only": pivotal_key(goiardi)},
        cookbooks={"py_cli_book": "name 'py_cli_book'\nversion '0.4.0'\n"},
    )
    result = run_module("sync", "--repo", str(repo), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)  # raises if anything else is mixed in
    assert report["ok"] is True
    [server] = report["servers"]
    assert server["name"] == "only"
    assert [(c["name"], c["outcome"]) for c in server["cookbooks"]] == [
        ("py_cli_book", "created")
    ]
    cookbooks = chef_sync.ChefClient(goiardi.url, "admin", goiardi.admin_pem).get("/cookbooks")
    assert "py_cli_book" in cookbooks


def test_usage_errors_exit_2_and_unknown_repos_fail(tmp_path: Path) -> None:
    assert main(["chef-sync", "no-such-subcommand"]) == 2
    result = run_module("sync", "--repo", str(tmp_path / "missing"), "--json")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr != ""
