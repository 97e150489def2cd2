"""The handler with the real chef_sync backend: nodes found by a Chef search on two goiardi
servers are converged through (moto) SSM."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import boto3
import chef_sync
import handler
import pytest
from fleet_testing import FakeFleet, FleetSession
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


# ---------------------------------------------------------------------------------------------
# The rollout state machine's states with the real chef_sync backend
# ---------------------------------------------------------------------------------------------


def rollout_states(
    aws: boto3.session.Session,
    goiardi_pair: tuple[Goiardi, Goiardi],
    tmp_path: Path,
    cookbook: str,
    user_parameters: dict[str, Any],
) -> tuple[handler.StepContext, dict[str, Any], FakeFleet]:
    """A repository holding only ``cookbook`` 1.0.0 as the artifact, and the first state."""
    eu, us = goiardi_pair
    repo = tmp_path / f"{cookbook}-repo"
    make_repo(
        repo,
        {"prod-eu": eu.url, "prod-us": us.url},
        cookbooks={cookbook: f"name '{cookbook}'\nversion '1.0.0'\n"},
    )
    event = job_event(aws, user_parameters=json.dumps(user_parameters))
    put_artifact(aws, event, repo)
    location = event["CodePipeline.job"]["data"]["inputArtifacts"][0]["location"]["s3Location"]
    fleet = FakeFleet()
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    ctx = handler.StepContext(
        env={**ENV, "RESULTS_BUCKET": ARTIFACT_BUCKET, "CANARY_NODES": "0"},
        session=FleetSession(aws, fleet),
        backend=handler.load_backend,
        workdir=work,
    )
    state: dict[str, Any] = {
        "rollout_id": f"rollout-{cookbook}",
        "job_id": "job",
        "artifact": {"bucket": location["bucketName"], "key": location["objectKey"]},
        "user_parameters": json.dumps(user_parameters),
    }
    return ctx, state, fleet


def run_rollout(ctx: handler.StepContext, state: dict[str, Any]) -> dict[str, Any]:
    for step in ("sync", "canary", "wave", "poll", "verify", "report"):
        state = handler.STEPS[step](state, ctx)
    return state


def test_rollout_finds_goiardi_nodes_and_verify_fails_when_a_cookbook_is_missing(
    aws: boto3.session.Session,
    regions: dict[str, chef_sync.ChefClient],
    goiardi_pair: tuple[Goiardi, Goiardi],
    tmp_path: Path,
) -> None:
    regions["prod-eu"].post("/nodes", chef_node("unsynced-web-1", iid(401)))
    regions["prod-us"].post("/nodes", chef_node("unsynced-web-2", iid(402)))
    ctx, state, fleet = rollout_states(
        aws, goiardi_pair, tmp_path, "unsyncedbook", {"query": "name:unsynced-*"}
    )
    fleet.manage(iid(401), iid(402))

    report = run_rollout(ctx, state)

    assert sorted(i for c in ssm_commands(aws) for i in c["InstanceIds"]) == [iid(401), iid(402)]
    assert report["ok"] is False
    assert report["counts"] == {"converged": 2}
    text = report["summary"]
    # The module has chef_sync.status: verify reads every server rather than a dry-run sync.
    assert "Verify (status) found differences: " in text
    assert "cookbook unsyncedbook 1.0.0: missing (prod-eu: missing, prod-us: missing)" in text
    for client in regions.values():
        with pytest.raises(chef_sync.NotFoundError):
            client.get("/cookbooks/unsyncedbook")  # a dry run uploads nothing


def test_rollout_syncs_then_verify_finds_nothing_left_to_change(
    aws: boto3.session.Session,
    regions: dict[str, chef_sync.ChefClient],
    goiardi_pair: tuple[Goiardi, Goiardi],
    tmp_path: Path,
) -> None:
    regions["prod-us"].post("/nodes", chef_node("verified-web-1", iid(501)))
    ctx, state, fleet = rollout_states(
        aws, goiardi_pair, tmp_path, "verifiedbook", {"query": "name:verified-*", "sync": True}
    )
    fleet.manage(iid(501))

    report = run_rollout(ctx, state)

    assert report["ok"] is True, report["summary"]
    assert report["counts"] == {"converged": 1}
    for client in regions.values():
        assert client.get("/cookbooks/verifiedbook/1.0.0")["version"] == "1.0.0"
    summary = json.loads(
        aws.client("s3")
        .get_object(
            Bucket=ARTIFACT_BUCKET, Key="chef-sync/converge/rollout-verifiedbook/summary.json"
        )["Body"]
        .read()
    )
    assert summary["verify"] == {"ok": True, "method": "status", "differences": []}
    assert [(n["node"], n["server"], n["outcome"]) for n in summary["nodes"]] == [
        ("verified-web-1", "prod-us", "converged")
    ]
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
