"""Python values through Rust's serde_json::Value and back."""

from __future__ import annotations

import math
from typing import Any

import pytest
from chef_sync import _chef_sync

NODE: dict[str, Any] = {
    "name": "web-1",
    "chef_environment": "_default",
    "run_list": ["recipe[apache2]", "role[web]"],
    "automatic": {"ec2": {"instance_id": "i-0abc"}, "uptime_seconds": 12, "load": 0.25},
    "normal": {"tags": [], "flag": True, "nothing": None},
    "big": 2**63 + 1,
    "negative": -(2**63),
}


def test_round_trip_keeps_values_and_key_order() -> None:
    back = _chef_sync._json_roundtrip(NODE)
    assert back == NODE
    assert list(back) == list(NODE)
    assert list(back["automatic"]) == ["ec2", "uptime_seconds", "load"]


def test_tuples_become_lists_and_bools_stay_bools() -> None:
    back = _chef_sync._json_roundtrip({"t": (1, True, "x")})
    assert back == {"t": [1, True, "x"]}
    assert back["t"][1] is True


@pytest.mark.parametrize(
    ("value", "error", "path"),
    [
        ({"a": {"b": [1, {1, 2}]}}, TypeError, "$.a.b[1]"),
        ({"x": math.nan}, ValueError, "$.x"),
        ({"x": [2**64]}, ValueError, "$.x[0]"),
        ({1: "a"}, TypeError, "keys must be str"),
        (b"bytes", TypeError, "bytes"),
    ],
)
def test_unconvertible_values_name_their_path(
    value: Any, error: type[Exception], path: str
) -> None:
    with pytest.raises(error, match=path.replace("$", r"\$").replace("[", r"\[")):
        _chef_sync._json_roundtrip(value)
