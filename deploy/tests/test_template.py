"""deploy/template.yaml: cfn-lint clean, least privilege, and the buildspec's shell works."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.decode import decode

DEPLOY = Path(__file__).resolve().parents[1]
TEMPLATE = DEPLOY / "template.yaml"
HANDLER = DEPLOY.parent / "examples" / "lambda" / "handler.py"
#: Actions IAM accepts only with Resource "*" (no resource-level permissions).
UNSCOPED_ACTIONS = {
    "ssm:GetCommandInvocation",
    "codepipeline:PutJobSuccessResult",
    "codepipeline:PutJobFailureResult",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded, matches = decode(str(TEMPLATE))
    assert not matches, matches
    assert loaded is not None
    return dict(loaded)


def resources(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {n: r for n, r in template["Resources"].items() if r["Type"] == kind}


def statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for role in resources(template, "AWS::IAM::Role").values():
        for policy in role["Properties"].get("Policies", []):
            found.extend(policy["PolicyDocument"]["Statement"])
    return found


def test_cfn_lint_passes() -> None:
    cfn_lint = shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or "cfn-lint"
    run = subprocess.run([cfn_lint, str(TEMPLATE)], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def test_only_unscoped_actions_use_a_wildcard_resource(template: dict[str, Any]) -> None:
    for statement in statements(template):
        resource = statement["Resource"]
        actions = set(statement["Action"])
        if resource == "*" or (isinstance(resource, list) and "*" in resource):
            assert actions <= UNSCOPED_ACTIONS, statement
        assert not any(a.endswith("*") for a in actions), statement


def test_send_command_is_limited_to_the_document_and_tagged_instances(
    template: dict[str, Any],
) -> None:
    send = [s for s in statements(template) if "ssm:SendCommand" in s["Action"]]
    assert len(send) == 2
    document = next(s for s in send if "Condition" not in s)
    assert document["Resource"]["Fn::Sub"].endswith("::document/AWS-RunShellScript")
    instances = next(s for s in send if "Condition" in s)
    assert [r["Fn::Sub"].rsplit(":", 1)[1] for r in instances["Resource"]] == [
        "instance/*",
        "managed-instance/*",
    ]
    assert instances["Condition"]["StringEquals"] == {
        "ssm:resourceTag/ChefSyncConverge": {"Ref": "ConvergeTagValue"}
    }


def test_keys_are_readable_only_as_private_pem_objects(template: dict[str, Any]) -> None:
    key_statements = [s for s in statements(template) if s.get("Sid") == "ChefServerKeys"]
    assert len(key_statements) == 2  # CodeBuild and the Lambda
    for s in key_statements:
        assert s["Action"] == ["s3:GetObject"]
        assert s["Resource"]["Fn::Sub"].endswith(":s3:::${KeyBucket}/*/private.pem")


def test_lambda_runs_the_handler_with_the_chef_sync_layer(template: dict[str, Any]) -> None:
    (function,) = resources(template, "AWS::Lambda::Function").values()
    props = function["Properties"]
    assert props["Runtime"] == "python3.12"
    assert props["Layers"] == [{"Ref": "ChefSyncLayer"}]
    module, func = props["Handler"].split(".")
    assert HANDLER.stem == module
    assert f"def {func}(" in HANDLER.read_text()
    assert props["Timeout"] == 900
    assert set(props["Environment"]["Variables"]) >= {"KEY_BUCKET", "CHEF_NODE_QUERY"}
    (layer,) = resources(template, "AWS::Lambda::LayerVersion").values()
    assert layer["Properties"]["Content"]["S3Key"] == {"Ref": "LayerKey"}
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]


def buildspec(template: dict[str, Any]) -> dict[str, Any]:
    (project,) = resources(template, "AWS::CodeBuild::Project").values()
    assert project["Properties"]["Environment"]["Image"] == "aws/codebuild/standard:7.0"
    spec: dict[str, Any] = yaml.safe_load(project["Properties"]["Source"]["BuildSpec"])
    return spec


def test_buildspec_runs_chef_sync_not_chefdk(template: dict[str, Any]) -> None:
    spec = buildspec(template)
    assert spec["version"] == 0.2
    text = yaml.safe_dump(spec)
    assert "chefdk" not in text.lower() and "berks" not in text
    assert any("chef-sync --repo . --json" in c for c in spec["phases"]["build"]["commands"])
    assert spec["phases"]["post_build"]["commands"] == ["rm -f .chef/*/private.pem"]


def test_buildspec_fetches_one_key_per_server_directory(
    template: dict[str, Any], tmp_path: Path
) -> None:
    """Runs the pre_build shell with a fake `aws` against a repository in the seed layout."""
    (script,) = buildspec(template)["phases"]["pre_build"]["commands"]
    repo = tmp_path / "repo"
    for server in ("opsworks-eu", "opsworks-us"):
        (repo / ".chef" / server).mkdir(parents=True)
        (repo / ".chef" / server / "config.yml").write_text(
            "server: 'https://x/organizations/default'\n"
        )
    (repo / ".chef" / "ca_certs").mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "aws.log"
    fake_aws = bin_dir / "aws"
    fake_aws.write_text(
        f'#!/bin/sh\necho "$@" >> {log}\neval "dest=\\${{$#}}"\necho key > "$dest"\n'
    )
    fake_aws.chmod(fake_aws.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "KEY_BUCKET": "keys"}

    run = subprocess.run(
        ["bash", "-c", script], cwd=repo, env=env, capture_output=True, text=True, check=False
    )

    assert run.returncode == 0, run.stderr
    assert log.read_text().splitlines() == [
        f"s3 cp --only-show-errors s3://keys/{s}/private.pem .chef/{s}/private.pem"
        for s in ("opsworks-eu", "opsworks-us")
    ]
    for server in ("opsworks-eu", "opsworks-us"):
        key = repo / ".chef" / server / "private.pem"
        assert key.stat().st_mode & 0o777 == 0o600
    assert not (repo / ".chef" / "ca_certs" / "private.pem").exists()


def test_pipeline_converges_after_the_sync(template: dict[str, Any]) -> None:
    (pipeline,) = resources(template, "AWS::CodePipeline::Pipeline").values()
    stages = pipeline["Properties"]["Stages"]
    assert [s["Name"] for s in stages] == ["Source", "Sync", "Converge"]
    converge = stages[2]["Actions"][0]
    assert converge["InputArtifacts"] == [{"Name": "Cookbooks"}]
    assert converge["Configuration"]["FunctionName"] == {"Ref": "ChefClientFunction"}
