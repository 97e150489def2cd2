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
sys.path.insert(0, str(DEPLOY.parent / "examples" / "lambda"))
sys.path.insert(0, str(DEPLOY))

import package  # noqa: E402
import ssm_rollout  # noqa: E402
import handler  # noqa: E402

TEMPLATE = DEPLOY / "template.yaml"
HANDLER = DEPLOY.parent / "examples" / "lambda" / "handler.py"
#: Actions IAM accepts only with Resource "*" (no resource-level permissions).
UNSCOPED_ACTIONS = {
    "ssm:GetCommandInvocation",
    "ssm:ListCommands",
    "ssm:DescribeInstanceInformation",
    "ssm:CancelCommand",
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
    for policy in resources(template, "AWS::IAM::Policy").values():
        found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
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
    assert len(send) == 4  # the pipeline's function and the rollout function
    documents = [s for s in send if "Condition" not in s]
    assert len(documents) == 2
    for document in documents:
        assert document["Resource"]["Fn::Sub"].endswith("::document/AWS-RunShellScript")
    for instances in (s for s in send if "Condition" in s):
        assert [r["Fn::Sub"].rsplit(":", 1)[1] for r in instances["Resource"]] == [
            "instance/*",
            "managed-instance/*",
        ]
        assert instances["Condition"]["StringEquals"] == {
            "ssm:resourceTag/ChefSyncConverge": {"Ref": "ConvergeTagValue"}
        }


def test_keys_are_readable_only_as_private_pem_objects(template: dict[str, Any]) -> None:
    key_statements = [s for s in statements(template) if s.get("Sid") == "ChefServerKeys"]
    assert len(key_statements) == 3  # CodeBuild and the two functions
    for s in key_statements:
        assert s["Action"] == ["s3:GetObject"]
        assert s["Resource"]["Fn::Sub"].endswith(":s3:::${KeyBucket}/*/private.pem")


@pytest.mark.parametrize(
    ("name", "entry"),
    [("ChefClientFunction", "lambda_handler"), ("RolloutFunction", "step_handler")],
)
def test_lambda_runs_the_handler_with_the_chef_sync_layer(
    template: dict[str, Any], name: str, entry: str
) -> None:
    function = resources(template, "AWS::Lambda::Function")[name]
    props = function["Properties"]
    assert props["Runtime"] == "python3.12"
    assert props["Layers"] == [{"Ref": "ChefSyncLayer"}]
    module, func = props["Handler"].split(".")
    assert HANDLER.stem == module
    assert func == entry
    assert f"def {func}(" in HANDLER.read_text()
    assert props["Timeout"] == 900
    variables = props["Environment"]["Variables"]
    assert set(variables) >= {"KEY_BUCKET", "CHEF_NODE_QUERY", "RESULTS_BUCKET"}
    assert variables["RESULTS_BUCKET"] == {"Ref": "ArtifactBucket"}
    # Every variable set is one the handler reads.
    assert set(variables) <= handler.ENV_KEYS
    (layer,) = resources(template, "AWS::Lambda::LayerVersion").values()
    assert layer["Properties"]["Content"]["S3Key"] == {
        "Fn::Sub": "${CodePrefix}chef-sync-layer-${Architecture}.zip"
    }
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    assert props["Code"]["S3Key"] == {"Fn::Sub": "${CodePrefix}chef-client-function.zip"}


def test_one_architecture_parameter_selects_the_functions_and_their_layer(
    template: dict[str, Any],
) -> None:
    parameter = template["Parameters"]["Architecture"]
    assert parameter["Default"] == "arm64"
    assert parameter["AllowedValues"] == ["arm64", "x86_64"]
    for function in resources(template, "AWS::Lambda::Function").values():
        assert function["Properties"]["Architectures"] == [{"Ref": "Architecture"}]
    (layer,) = resources(template, "AWS::Lambda::LayerVersion").values()
    assert layer["Properties"]["CompatibleArchitectures"] == [{"Ref": "Architecture"}]
    # package.py names the layers after the values of the parameter.
    assert set(parameter["AllowedValues"]) == set(package.LAMBDA_ARCHITECTURES.values())


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
    assert any("chef-sync sync --repo . --json" in c for c in spec["phases"]["build"]["commands"])
    install = spec["phases"]["install"]["commands"]
    assert any("pip install --no-index --find-links" in c and "chef-sync" in c for c in install)
    assert not any(word in text for word in ("cargo", "rustup", "ruby", "gem install"))
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


# ---------------------------------------------------------------------------------------------
# The rollout state machine (step-functions mode)
# ---------------------------------------------------------------------------------------------


def state_machine(template: dict[str, Any]) -> dict[str, Any]:
    (machine,) = resources(template, "AWS::StepFunctions::StateMachine").values()
    props: dict[str, Any] = machine["Properties"]
    return props


def successors(state: dict[str, Any]) -> list[str]:
    """Every state a state can hand over to."""
    found = [state[k] for k in ("Next", "Default") if k in state]
    found += [c["Next"] for c in state.get("Choices", [])]
    found += [c["Next"] for c in state.get("Catch", [])]
    return found


def test_the_mode_parameter_selects_the_state_machine(template: dict[str, Any]) -> None:
    assert template["Parameters"]["ConvergeMode"]["AllowedValues"] == ["lambda", "step-functions"]
    assert template["Parameters"]["ConvergeMode"]["Default"] == "lambda"
    assert template["Conditions"]["UseStateMachine"] == {
        "Fn::Equals": [{"Ref": "ConvergeMode"}, "step-functions"]
    }
    only_with_the_machine = {
        n for n, r in template["Resources"].items() if r.get("Condition") == "UseStateMachine"
    }
    assert only_with_the_machine == {
        "StateMachine",
        "StateMachineRole",
        "RolloutFunction",
        "RolloutFunctionRole",
        "RolloutLogGroup",
        "FunctionStartsRollouts",
    }
    env = resources(template, "AWS::Lambda::Function")["ChefClientFunction"]["Properties"][
        "Environment"
    ]["Variables"]
    assert env["STATE_MACHINE_ARN"] == {
        "Fn::If": ["UseStateMachine", {"Ref": "StateMachine"}, {"Ref": "AWS::NoValue"}]
    }


def test_the_pipeline_function_may_start_and_follow_only_its_machine(
    template: dict[str, Any],
) -> None:
    policy = template["Resources"]["FunctionStartsRollouts"]["Properties"]
    assert policy["Roles"] == [{"Ref": "FunctionRole"}]
    start, follow = policy["PolicyDocument"]["Statement"]
    assert start["Action"] == ["states:StartExecution"]
    assert start["Resource"] == {"Ref": "StateMachine"}
    assert follow["Action"] == ["states:DescribeExecution"]
    assert follow["Resource"]["Fn::Sub"].endswith(":execution:${StateMachine.Name}:*")
    role = template["Resources"]["StateMachineRole"]["Properties"]
    (invoke,) = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert invoke["Action"] == ["lambda:InvokeFunction"]
    assert invoke["Resource"] == {"Fn::GetAtt": ["RolloutFunction", "Arn"]}


def test_state_machine_definition_is_well_formed(template: dict[str, Any]) -> None:
    """The ASL, checked locally: targets exist, every state is reachable, every path ends."""
    props = state_machine(template)
    definition = props["Definition"]
    states = definition["States"]
    assert definition["StartAt"] in states
    for name, state in states.items():
        for target in successors(state):
            assert target in states, f"{name} hands over to a missing state {target}"
        if state["Type"] in ("Task", "Wait", "Pass"):
            assert "Next" in state or state.get("End") is True, name
        if state["Type"] == "Choice":
            assert "Default" in state, f"{name} has no Default"
    reached = {definition["StartAt"]}
    frontier = [definition["StartAt"]]
    while frontier:
        for target in successors(states[frontier.pop()]):
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(states), f"unreachable states: {set(states) - reached}"
    # From every state an end (Succeed/Fail) can be reached.
    ends = {n for n, s in states.items() if s["Type"] in ("Succeed", "Fail")}
    assert ends
    for name in states:
        seen, todo = {name}, [name]
        while todo and not (seen & ends):
            for target in successors(states[todo.pop()]):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        assert seen & ends, f"{name} never ends"
    assert definition["TimeoutSeconds"] <= 86400  # CodePipeline's Lambda action gives up at 24 h


def test_state_machine_tasks_run_the_rollout_function_states(template: dict[str, Any]) -> None:
    props = state_machine(template)
    assert props["DefinitionSubstitutions"] == {
        "RolloutFunctionArn": {"Fn::GetAtt": ["RolloutFunction", "Arn"]}
    }
    tasks = {n: s for n, s in props["Definition"]["States"].items() if s["Type"] == "Task"}
    assert set(tasks) == {"Sync", "Canary", "PollCanary", "Waves", "PollWaves", "Verify", "Report"}
    for name, task in tasks.items():
        assert task["Resource"] == "${RolloutFunctionArn}", name
        assert task["Parameters"]["state.$"] == "$", name
        assert task["Parameters"]["step"] in handler.STEPS, name
        retried = {e for r in task["Retry"] for e in r["ErrorEquals"]}
        assert "Lambda.TooManyRequestsException" in retried, name
        if name not in ("Verify", "Report"):
            # SSM throttling is retried by the machine, with backoff.
            (throttled,) = [r for r in task["Retry"] if r["ErrorEquals"] == ["SsmThrottled"]]
            assert throttled["BackoffRate"] > 1 and throttled["MaxAttempts"] >= 3
        if name != "Report":
            assert task["Catch"] == [
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Report"}
            ]
    assert ssm_rollout.SsmThrottled.__name__ == "SsmThrottled"


def test_state_machine_order_is_sync_canary_waves_verify(template: dict[str, Any]) -> None:
    states = state_machine(template)["Definition"]["States"]
    assert states["Sync"]["Next"] == "Synced"
    assert states["Synced"]["Default"] == "Canary"
    # The rest starts only once the canary is done and fine.
    choices = states["CanaryDone"]["Choices"]
    assert choices[0] == {"Variable": "$.wave_done", "BooleanEquals": False, "Next": "CanaryWait"}
    assert choices[1] == {"Variable": "$.wave_ok", "BooleanEquals": False, "Next": "Report"}
    assert states["CanaryDone"]["Default"] == "Waves"
    assert states["CanaryWait"] == {
        "Type": "Wait",
        "SecondsPath": "$.poll_interval",
        "Next": "PollCanary",
    }
    assert states["WavesDone"]["Default"] == "Verify"
    assert states["Verify"]["Next"] == "Report"
    assert states["NotConverged"]["CausePath"] == "$.summary"


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        ("", "sync --repo . --json"),
        ("*", "push --repo . --json"),
        ("prod", "push --repo . --policy-group prod --json"),
    ],
)
def test_a_policy_group_makes_the_build_push_the_policy_instead(
    template: dict[str, Any], tmp_path: Path, group: str, expected: str
) -> None:
    """Runs the build shell with a fake `chef-sync` for each PolicyGroup value."""
    (script,) = buildspec(template)["phases"]["build"]["commands"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "chef-sync.log"
    fake = bin_dir / "chef-sync"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\necho "{{}}"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CHEF_POLICY_GROUP": group}

    run = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )

    assert run.returncode == 0, run.stderr
    assert log.read_text().splitlines() == [expected]
    assert (tmp_path / "sync-report.json").read_text() == "{}\n"


def test_the_policy_group_parameter_reaches_the_build_and_both_functions(
    template: dict[str, Any],
) -> None:
    parameter = template["Parameters"]["PolicyGroup"]
    assert parameter["Default"] == ""
    build = template["Resources"]["BuildProject"]["Properties"]["Environment"]
    assert {"Name": "CHEF_POLICY_GROUP", "Value": {"Ref": "PolicyGroup"}} in build[
        "EnvironmentVariables"
    ]
    for name in ("ChefClientFunction", "RolloutFunction"):
        variables = template["Resources"][name]["Properties"]["Environment"]["Variables"]
        assert variables["CHEF_POLICY_GROUP"] == {"Ref": "PolicyGroup"}, name
    assert "CHEF_POLICY_GROUP" in handler.ENV_KEYS
