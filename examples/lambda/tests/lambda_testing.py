"""Helpers for the Lambda handler tests: moto-backed AWS, a repository artifact, fakes for
the Chef seam and for the Lambda context and clock."""

from __future__ import annotations

import io
import sys
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import handler

REGION = "us-east-1"
ARTIFACT_BUCKET = "pipeline-artifacts"
KEY_BUCKET = "chef-keys"
SERVERS = ("prod-eu", "prod-us")
KNIFE_RB = """require 'yaml'
CHEF_SERVER = ENV['CHEF_SERVER'] || "NONE"
current_dir = File.dirname(__FILE__)
env_config = YAML.load_file("#{current_dir}/#{CHEF_SERVER}/config.yml")
node_name                'pivotal'
client_key               "#{current_dir}/#{CHEF_SERVER}/private.pem"
chef_server_url          env_config["server"]
"""


def pem(server: str) -> bytes:
    return f"-----BEGIN RSA PRIVATE KEY-----\nfake key of {server}\n-----END RSA PRIVATE KEY-----\n".encode()


def node(name: str, instance_id: str | None, level: str = "automatic") -> dict[str, Any]:
    attrs: dict[str, Any] = {"ec2": {"instance_id": instance_id}} if instance_id else {}
    return {"name": name, "chef_type": "node", level: attrs}


@dataclass
class FakeServer:
    """A Chef server that answers searches from a list (or fails)."""

    name: str
    nodes: list[dict[str, Any]] = field(default_factory=list)
    error: Exception | None = None
    queries: list[str] = field(default_factory=list)

    def search_nodes(self, query: str) -> Iterable[Mapping[str, Any]]:
        self.queries.append(query)
        if self.error is not None:
            raise self.error
        return list(self.nodes)


@dataclass
class FakeBackend:
    """The Chef seam: checks the keys are where knife.rb expects them, records calls."""

    servers_by_name: dict[str, FakeServer]
    sync_outcome: handler.SyncOutcome | None = None
    status_outcome: handler.StatusOutcome | None = None
    synced: list[Path] = field(default_factory=list)
    statuses: list[Path] = field(default_factory=list)
    keys_seen: dict[str, bytes] = field(default_factory=dict)
    verification: handler.Verification = handler.Verification(True, "dry-run")
    verified: list[Path] = field(default_factory=list)
    #: (repo, group) of every policy push and policy verification.
    pushed: list[tuple[Path, str | None]] = field(default_factory=list)
    policy_verified: list[tuple[Path, str | None]] = field(default_factory=list)

    def sync(self, repo: Path) -> handler.SyncOutcome:
        self.synced.append(repo)
        assert self.sync_outcome is not None
        return self.sync_outcome

    def status(self, repo: Path) -> handler.StatusOutcome:
        self.statuses.append(repo)
        assert self.status_outcome is not None
        return self.status_outcome

    def servers(self, repo: Path) -> Sequence[handler.NodeSearcher]:
        assert (repo / ".chef" / "knife.rb").read_text() == KNIFE_RB
        for name in self.servers_by_name:
            key = repo / ".chef" / name / "private.pem"
            assert key.stat().st_mode & 0o777 == 0o600
            self.keys_seen[name] = key.read_bytes()
        return list(self.servers_by_name.values())

    def verify(self, repo: Path) -> handler.Verification:
        assert (repo / ".chef" / "knife.rb").read_text() == KNIFE_RB
        self.verified.append(repo)
        return self.verification

    def push_policy(self, repo: Path, group: str | None) -> handler.SyncOutcome:
        self.pushed.append((repo, group))
        assert self.sync_outcome is not None
        return self.sync_outcome

    def verify_policy(self, repo: Path, group: str | None) -> handler.Verification:
        self.policy_verified.append((repo, group))
        return self.verification


class FakeClock:
    """Lambda time: ``sleep`` advances it, the context reads what is left."""

    def __init__(self, remaining_seconds: float) -> None:
        self.remaining = remaining_seconds
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.remaining -= seconds

    def get_remaining_time_in_millis(self) -> int:
        return int(self.remaining * 1000)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.session.Session]:
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        s3 = session.client("s3")
        s3.create_bucket(Bucket=ARTIFACT_BUCKET)
        s3.create_bucket(Bucket=KEY_BUCKET)
        for server in SERVERS:
            s3.put_object(Bucket=KEY_BUCKET, Key=f"{server}/private.pem", Body=pem(server))
        yield session


def repo_zip(servers: Sequence[str] = SERVERS) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(".chef/knife.rb", KNIFE_RB)
        for server in servers:
            zf.writestr(
                f".chef/{server}/config.yml",
                f"server: 'https://{server}.example/organizations/default'\n",
            )
        zf.writestr("Berksfile", "source 'https://supermarket.chef.io'\n")
        zf.writestr("cookbooks/web/metadata.rb", "name 'web'\nversion '1.0.0'\n")
    return buf.getvalue()


def job_event(
    session: boto3.session.Session,
    job_id: str = "11111111-2222-3333-4444-555555555555",
    user_parameters: str | None = None,
    servers: Sequence[str] = SERVERS,
) -> dict[str, Any]:
    key = f"pipeline/Cookbooks/{job_id[:8]}.zip"
    session.client("s3").put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=repo_zip(servers))
    configuration: dict[str, str] = {"FunctionName": "chef-client"}
    if user_parameters is not None:
        configuration["UserParameters"] = user_parameters
    return {
        "CodePipeline.job": {
            "id": job_id,
            "accountId": "123456789012",
            "data": {
                "actionConfiguration": {"configuration": configuration},
                "inputArtifacts": [
                    {
                        "name": "Cookbooks",
                        "location": {
                            "type": "S3",
                            "s3Location": {"bucketName": ARTIFACT_BUCKET, "objectKey": key},
                        },
                    }
                ],
                "outputArtifacts": [],
                "artifactCredentials": {
                    "accessKeyId": "testing",
                    "secretAccessKey": "testing",
                    "sessionToken": "testing",
                },
            },
        }
    }
