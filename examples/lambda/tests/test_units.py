"""The handler's pure parts: settings, attribute lookup, summaries, result reporting."""

from __future__ import annotations

from typing import Any

import handler
import pytest


def test_settings_defaults_and_overrides() -> None:
    s = handler.Settings.load({})
    assert (s.node_query, s.instance_id_attribute, s.run_sync, s.batch_size) == (
        "*:*",
        "ec2.instance_id",
        False,
        50,
    )
    s = handler.Settings.load(
        {"CHEF_NODE_QUERY": "role:web", "CHEF_SYNC_IN_LAMBDA": "yes", "KEY_BUCKET": "k"},
        '{"instance_id_attribute": "cloud.id"}',
    )
    assert (s.node_query, s.instance_id_attribute, s.run_sync, s.key_bucket) == (
        "role:web",
        "cloud.id",
        True,
        "k",
    )


@pytest.mark.parametrize("size", ["0", "51"])
def test_batch_size_above_ssm_limit_is_rejected(size: str) -> None:
    with pytest.raises(ValueError, match="SSM_BATCH_SIZE"):
        handler.Settings.load({"SSM_BATCH_SIZE": size})


@pytest.mark.parametrize("params", ["not json", "[1, 2]"])
def test_bad_user_parameters_are_rejected(params: str) -> None:
    with pytest.raises(ValueError, match="UserParameters"):
        handler.Settings.load({}, params)


def test_attribute_uses_chef_precedence() -> None:
    node: dict[str, Any] = {
        "name": "n",
        "default": {"ec2": {"instance_id": "i-default00"}},
        "normal": {"ec2": {"instance_id": "i-normal000"}},
        "automatic": {"ec2": {"instance_id": "i-0automatic"}},
    }
    assert handler.attribute(node, "ec2.instance_id") == "i-0automatic"
    del node["automatic"]
    assert handler.attribute(node, "ec2.instance_id") == "i-normal000"
    assert (
        handler.attribute(
            {"ec2.instance_id": "x", "ec2": {"instance_id": "i-flat0000"}}, "ec2.instance_id"
        )
        == "i-flat0000"
    )
    assert handler.attribute(node, "ec2.missing") is None


def test_batches_split_at_the_limit() -> None:
    items = [str(i) for i in range(101)]
    assert [len(b) for b in handler.batches(items, 50)] == [50, 50, 1]
    assert [x for b in handler.batches(items, 50) for x in b] == items
    assert list(handler.batches([], 50)) == []


def test_invalid_instance_ids_are_skipped() -> None:
    class Server:
        name = "s"

        def search_nodes(self, query: str) -> list[dict[str, Any]]:
            return [
                {"name": "a", "automatic": {"ec2": {"instance_id": "i-0123456789abcdef0"}}},
                {"name": "b", "automatic": {"ec2": {"instance_id": "rm -rf /"}}},
                {"name": "c", "automatic": {"ec2": {"instance_id": "mi-0123456789abcdef0"}}},
            ]

    found = handler.find_targets([Server()], "*:*", "ec2.instance_id")
    assert [t.instance_id for t in found.targets] == ["i-0123456789abcdef0", "mi-0123456789abcdef0"]
    assert found.skipped == ["b on s: no instance id at ec2.instance_id"]


def test_send_failures_count_as_failed_instances() -> None:
    targets = [handler.Target("i-00000001", "a", "s"), handler.Target("i-00000002", "b", "s")]
    result = handler.summarize(
        targets,
        {"i-00000001": "Success", "i-00000002": "SendFailed: ThrottlingException"},
        handler.Discovery(targets=targets),
    )
    assert not result.ok
    assert "Failed: i-00000002 (b on s): SendFailed: ThrottlingException." in result.summary


def test_failure_message_is_cut_to_codepipelines_limit() -> None:
    calls: list[dict[str, Any]] = []

    class Pipeline:
        def put_job_failure_result(self, **kwargs: Any) -> None:
            calls.append(kwargs)

    handler.report(Pipeline(), "job", handler.JobResult(ok=False, summary="x" * 20_000))
    message = calls[0]["failureDetails"]["message"]
    assert len(message) <= handler.MAX_FAILURE_MESSAGE
    assert message.endswith("(cut)")


def test_no_break_spaces_are_spaces_with_a_warning_naming_the_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    params = '{\n\u00a0 "query":\u00a0"role:web AND\u00a0chef_environment:prod"\n}'
    with caplog.at_level("WARNING", logger="chef_sync.lambda"):
        s = handler.Settings.load({"CHEF_NODE_QUERY": "role:db\u00a0"}, params)
    assert s.node_query == "role:web AND chef_environment:prod"
    assert [r.getMessage() for r in caplog.records] == [
        "CHEF_NODE_QUERY line 1: U+00A0 no-break space treated as a space",
        "UserParameters line 2: U+00A0 no-break space treated as a space",
    ]


def test_continuation_tokens_shrink_to_fit_or_give_up() -> None:
    discovery = handler.Discovery(
        skipped=[f"node-{n} on s: no instance id at ec2.instance_id" for n in range(100)],
        failed_servers={"eu": "x" * 500},
    )
    commands = {f"i-{n:08x}": f"{n:08x}-0000-0000-0000-000000000000" for n in range(10)}
    token = handler.continuation_token(commands, {}, discovery)
    assert token is not None and len(token) <= handler.MAX_CONTINUATION_TOKEN
    assert "100 nodes (see the first log)" in token
    assert '"eu":"' + "x" * 500 in token

    many = {f"i-{n:08x}": f"{n:08x}-0000-0000-0000-000000000000" for n in range(60)}
    assert handler.continuation_token(many, {}, discovery) is None


def test_status_gate_from_the_environment_or_user_parameters() -> None:
    assert handler.Settings.load({}).status_gate is False
    assert handler.Settings.load({"CHEF_STATUS_GATE": "true"}).status_gate is True
    gate_off = handler.Settings.load({"CHEF_STATUS_GATE": "true"}, '{"status": false}')
    assert gate_off.status_gate is False
    assert handler.Settings.load({}, '{"sync": true, "status": true}').status_gate is True


def test_status_summary_names_the_verdict_and_caps_the_list() -> None:
    one = handler.StatusOutcome(1, ("prod-us: could not be read: GET http://x/cookbooks: refused",))
    assert not one.ok and handler.StatusOutcome(0).ok
    assert handler.status_summary(one) == (
        "Status gate failed (a server could not be read): "
        "prod-us: could not be read: GET http://x/cookbooks: refused."
    )
    many = handler.StatusOutcome(
        2, tuple(f"role[r{i}]: partial (prod-eu: extra)" for i in range(25))
    )
    summary = handler.status_summary(many)
    assert summary.startswith("Status gate failed (the servers drift): role[r0]: partial")
    assert "role[r19]" in summary and "role[r20]" not in summary
    assert summary.endswith("; and 5 more.")


def test_status_problems_name_servers_rows_and_cells() -> None:
    from types import SimpleNamespace as NS

    def cell(server: str, state: str) -> NS:
        return NS(server=server, state=state)

    report = NS(
        servers=[
            NS(name="prod-eu", ok=True, error=None),
            NS(name="prod-us", ok=False, error="refused"),
        ],
        cookbooks=[
            NS(name="base", version="1.4.2", drift=["differs", "diverged"],
               servers=[cell("prod-eu", "differs"), cell("prod-us", "unknown")]),
            NS(name="ntp", version="0.3.1", drift=[], servers=[cell("prod-eu", "match")]),
        ],
        objects=[NS(id="role[web]", drift=["partial"],
                    servers=[cell("prod-eu", "extra"), cell("prod-us", "absent")])],
    )
    assert list(handler.status_problems(report)) == [
        "prod-us: could not be read: refused",
        "cookbook base 1.4.2: differs, diverged (prod-eu: differs, prod-us: unknown)",
        "role[web]: partial (prod-eu: extra)",
    ]


def test_a_policy_group_from_the_environment_or_user_parameters() -> None:
    assert handler.Settings.load({}).policy_group is None
    assert handler.Settings.load({"CHEF_POLICY_GROUP": " prod "}).policy_group == "prod"
    assert handler.Settings.load({"CHEF_POLICY_GROUP": ""}).policy_group is None
    over = handler.Settings.load({"CHEF_POLICY_GROUP": "prod"}, '{"policy_group": "*"}')
    assert over.policy_group == "*"
    with pytest.raises(ValueError, match="not a policy group name"):
        handler.Settings.load({}, '{"policy_group": "prod west"}')


def test_policy_differences_name_what_a_dry_run_push_would_change() -> None:
    report = {
        "servers": [
            {"name": "prod-eu", "error": None, "artifacts": [
                {"name": "app", "version": "1.2.0", "outcome": "create", "error": None},
                {"name": "base", "version": "2.0.0", "outcome": "unchanged", "error": None},
            ], "policies": [
                {"name": "web", "group": "prod", "revision_id": "8d1f03aa91c2" + "0" * 52,
                 "outcome": "update", "error": None},
            ]},
            {"name": "prod-us", "error": "GET https://us/cookbook_artifacts: HTTP 401",
             "artifacts": [], "policies": []},
            {"name": "prod-ap", "error": None, "artifacts": [], "policies": [
                {"name": "web", "group": "prod", "revision_id": "8d1f", "outcome": "unchanged",
                 "error": None},
            ]},
        ]
    }
    assert handler.policy_differences(report) == (
        "prod-eu: artifact app 1.2.0 would be created",
        "prod-eu: policy web in prod would be updated to 8d1f03aa91",
        "prod-us: GET https://us/cookbook_artifacts: HTTP 401",
    )


def test_status_problems_name_policy_groups_that_disagree() -> None:
    from types import SimpleNamespace as NS

    report = NS(
        servers=[NS(name="a", ok=True, error=None), NS(name="b", ok=True, error=None)],
        cookbooks=[],
        objects=[],
        policies=[
            {"group": "prod", "policy": "web", "drift": ["diverged"], "servers": [
                {"server": "a", "state": "points", "revision_id": "1111111111aa"},
                {"server": "b", "state": "points", "revision_id": "2222222222bb"},
                {"server": "c", "state": "no_group", "revision_id": None},
            ]},
            {"group": "prod", "policy": "db", "drift": [], "servers": []},
        ],
    )
    assert list(handler.status_problems(report)) == [
        "policy prod/web: diverged (a: 1111111111, b: 2222222222)",
    ]


class _FakePolicyReport:
    def __init__(self, servers: list[dict[str, Any]]) -> None:
        self.ok = all(s["ok"] for s in servers)
        self._servers = servers

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "servers": self._servers}


def test_the_chef_sync_backend_pushes_and_verifies_with_push_policy() -> None:
    calls: list[dict[str, Any]] = []

    def push_policy(repo: Any, **kwargs: Any) -> _FakePolicyReport:
        calls.append({"repo": repo, **kwargs})
        if kwargs.get("dry_run"):
            return _FakePolicyReport([{"name": "eu", "ok": True, "error": None,
                                       "artifacts": [], "policies": []}])
        return _FakePolicyReport([
            {"name": "eu", "ok": True, "error": None, "artifacts": [], "policies": []},
            {"name": "us", "ok": False, "error": None, "artifacts": [
                {"name": "app", "version": "1.0.0", "outcome": "failed",
                 "error": "HTTP 400: Manifest has a checksum that hasn't been uploaded."},
            ], "policies": []},
        ])

    from types import SimpleNamespace as NS
    from pathlib import Path

    backend = handler.ChefSyncBackend(NS(__version__="9", push_policy=push_policy))
    outcome = backend.push_policy(Path("/repo"), "prod")
    assert not outcome.ok
    assert outcome.servers[1] == handler.ServerOutcome(
        "us", False,
        "artifact app 1.0.0: HTTP 400: Manifest has a checksum that hasn't been uploaded.",
    )
    verification = backend.verify_policy(Path("/repo"), None)
    assert verification == handler.Verification(True, "policy-dry-run", ())
    assert [c.get("dry_run", False) for c in calls] == [False, True]
    assert [c["policy_group"] for c in calls] == ["prod", None]
    with pytest.raises(handler.BackendUnavailable, match="no push_policy"):
        handler.ChefSyncBackend(NS(__version__="1")).push_policy(Path("/repo"), "prod")
