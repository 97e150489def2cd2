"""The handler with the real chef_sync backend: nodes found by a Chef search on two goiardi
servers are converged through (moto) SSM."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import boto3
import chef_sync
import handler
import pytest
from goiardi_server import Goiardi
from lambda_testing import ARTIFACT_BUCKET, KEY_BUCKET, job_event
from seed_repo import make_repo, pivotal_key
from test_handler import ENV, Pipeline, iid, pipeline, run, ssm_commands

__all__ = ["pipeline"]


def zip_dir(root: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(root).as_posix())
    return buf.getvalue()


def chef_node(name: str, instance_id: str | None, level: str = "automatic") -> dict[str, Any]:
    attrs: dict[str, Any] = {"ec2": {"instance_id": instance_id}} if instance_id else {}
    body: dict[str, Any] = {
        "name": name,
        "json_class": "Chef::Node",
        "chef_type": "node",
        "chef_environment": "_default",
        "run_list": [],
        "automatic": {},
        "normal": {},
        "default": {},
        "override": {},
    }
    body[level] = attrs
    return body


@pytest.fixture
def regions(
    aws: boto3.session.Session, goiardi_pair: tuple[Goiardi, Goiardi], tmp_path: Path
) -> dict[str, chef_sync.ChefClient]:
    """prod-eu and prod-us on two goiardi servers: keys in the KeyBucket, a repository in the
    seed's layout (no keys inside) as the pipeline artifact's content."""
    eu, us = goiardi_pair
    urls = {"prod-eu": eu.url, "prod-us": us.url}
    keys = {"prod-eu": pivotal_key(eu), "prod-us": pivotal_key(us)}
    s3 = aws.client("s3")
    for name, key in keys.items():
        s3.put_object(Bucket=KEY_BUCKET, Key=f"{name}/private.pem", Body=key)
    make_repo(tmp_path / "artifact", urls)
    return {
        name: chef_sync.ChefClient(url, "pivotal", keys[name], retries=0)
        for name, url in urls.items()
    }


def put_artifact(aws: boto3.session.Session, event: dict[str, Any], repo: Path) -> None:
    location = event["CodePipeline.job"]["data"]["inputArtifacts"][0]["location"]["s3Location"]
    aws.client("s3").put_object(
        Bucket=ARTIFACT_BUCKET, Key=location["objectKey"], Body=zip_dir(repo)
    )


def test_nodes_found_on_goiardi_are_converged(
    aws: boto3.session.Session,
    pipeline: Pipeline,
    regions: dict[str, chef_sync.ChefClient],
    tmp_path: Path,
) -> None:
    eu, us = regions["prod-eu"], regions["prod-us"]
    eu.post("/nodes", chef_node("lambda-web-1", iid(101)))
    eu.post("/nodes", chef_node("lambda-db-1", iid(102), level="normal"))
    us.post("/nodes", chef_node("lambda-web-2", iid(103)))
    us.post("/nodes", chef_node("lambda-laptop", None))
    us.post("/nodes", chef_node("lambda-web-1-again", iid(101)))
    event = job_event(aws, user_parameters='{"query": "name:lambda-*"}')
    put_artifact(aws, event, tmp_path / "artifact")
    pipeline.expect(ok=True)
    work = tmp_path / "work"
    work.mkdir()

    result = run(aws, pipeline, handler.load_backend, event=event, tmp_path=work)

    assert result["ok"] is True, result["summary"]
    (command,) = ssm_commands(aws)
    assert sorted(command["InstanceIds"]) == [iid(101), iid(102), iid(103)]
    assert result["statuses"] == {iid(n): "Success" for n in (101, 102, 103)}
    assert "succeeded on 3 of 3" in result["summary"]
    assert "lambda-laptop on prod-us" in result["summary"]
    assert list(work.iterdir()) == []


def test_a_server_refusing_the_key_fails_the_job_but_not_the_search_elsewhere(
    aws: boto3.session.Session,
    pipeline: Pipeline,
    regions: dict[str, chef_sync.ChefClient],
    goiardi_pair: tuple[Goiardi, Goiardi],
    tmp_path: Path,
) -> None:
    regions["prod-eu"].post("/nodes", chef_node("refused-web-1", iid(201)))
    # prod-us gets prod-eu's key: goiardi answers 401.
    aws.client("s3").put_object(
        Bucket=KEY_BUCKET, Key="prod-us/private.pem", Body=pivotal_key(goiardi_pair[0])
    )
    event = job_event(aws, user_parameters='{"query": "name:refused-*"}')
    put_artifact(aws, event, tmp_path / "artifact")
    pipeline.expect(ok=False)

    result = run(aws, pipeline, handler.load_backend, event=event, env=dict(ENV))

    assert result["ok"] is False
    (command,) = ssm_commands(aws)
    assert command["InstanceIds"] == [iid(201)]
    message = pipeline.failure_message
    assert "Search failed on: prod-us: AuthenticationError" in message
    assert "401" in message


def test_sync_in_lambda_uploads_to_every_server_then_converges(
    aws: boto3.session.Session,
    pipeline: Pipeline,
    regions: dict[str, chef_sync.ChefClient],
    tmp_path: Path,
) -> None:
    regions["prod-us"].post("/nodes", chef_node("synced-web-1", iid(301)))
    event = job_event(aws, user_parameters='{"query": "name:synced-*", "sync": true}')
    put_artifact(aws, event, tmp_path / "artifact")
    pipeline.expect(ok=True)

    result = run(aws, pipeline, handler.load_backend, event=event)

    assert result["ok"] is True, result["summary"]
    for client in regions.values():
        assert client.get("/cookbooks/app/1.0.0")["version"] == "1.0.0"
    (command,) = ssm_commands(aws)
    assert command["InstanceIds"] == [iid(301)]


def test_a_failed_sync_fails_the_job_naming_the_server(
    aws: boto3.session.Session,
    pipeline: Pipeline,
    regions: dict[str, chef_sync.ChefClient],
    goiardi_pair: tuple[Goiardi, Goiardi],
    tmp_path: Path,
) -> None:
    aws.client("s3").put_object(
        Bucket=KEY_BUCKET, Key="prod-us/private.pem", Body=pivotal_key(goiardi_pair[0])
    )
    event = job_event(aws, user_parameters='{"sync": true}')
    put_artifact(aws, event, tmp_path / "artifact")
    pipeline.expect(ok=False)

    result = run(aws, pipeline, handler.load_backend, event=event)

    assert result["ok"] is False
    message = pipeline.failure_message
    assert message.startswith("Cookbook sync failed on: prod-us: ")
    assert "401" in message
    assert ssm_commands(aws) == []


def test_the_status_gate_passes_after_a_sync_and_fails_on_drift(
    aws: boto3.session.Session,
    pipeline: Pipeline,
    regions: dict[str, chef_sync.ChefClient],
    tmp_path: Path,
) -> None:
    regions["prod-eu"].post("/nodes", chef_node("gated-web-1", iid(401)))
    event = job_event(
        aws, user_parameters='{"query": "name:gated-*", "sync": true, "status": true}'
    )
    put_artifact(aws, event, tmp_path / "artifact")
    pipeline.expect(ok=True)

    result = run(aws, pipeline, handler.load_backend, event=event)

    assert result["ok"] is True, result["summary"]
    (command,) = ssm_commands(aws)
    assert command["InstanceIds"] == [iid(401)]

    # A cookbook uploaded behind the sync's back to prod-us only: the gate names it.
    book = tmp_path / "gate_drift"
    (book / "recipes").mkdir(parents=True)
    (book / "metadata.rb").write_text("name 'gate_drift'\nversion '0.1.0'\n")
    (book / "recipes" / "default.rb").write_text("log 'drift'\n")
    chef_sync.upload_cookbooks(regions["prod-us"], [book])
    try:
        again = job_event(aws, user_parameters='{"query": "name:gated-*", "status": true}')
        put_artifact(aws, again, tmp_path / "artifact")
        pipeline.expect(ok=False)

        result = run(aws, pipeline, handler.load_backend, event=again)

        assert result["ok"] is False
        ((name, params),) = pipeline.calls[1:]
        assert name == "PutJobFailureResult"
        assert params["failureDetails"]["message"] == (
            "Status gate failed (the servers drift): "
            "cookbook gate_drift 0.1.0: partial (prod-us: extra)."
        )
        assert len(ssm_commands(aws)) == 1, "nothing more was sent"
    finally:
        regions["prod-us"].delete("/cookbooks/gate_drift/0.1.0")
