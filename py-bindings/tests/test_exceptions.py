"""The exception tree as Python sees it, and the Rust-side mapping that raises it."""

from __future__ import annotations

import json
import pickle
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import chef_sync
import pytest
from chef_sync import _chef_sync, exceptions

SUBCLASSES = [
    "ConfigError",
    "AuthenticationError",
    "LicenseError",
    "NotFoundError",
    "ConflictError",
    "ServerError",
    "NetworkError",
    "TlsError",
]


def test_package_exports() -> None:
    assert set(chef_sync.__all__) >= {"ChefSyncError", "__version__", *SUBCLASSES}
    for name in chef_sync.__all__:
        assert hasattr(chef_sync, name), name
    assert chef_sync.__version__ == _chef_sync.__version__
    assert chef_sync.__version__.count(".") == 2


@pytest.mark.parametrize("name", SUBCLASSES)
def test_every_class_derives_from_the_base(name: str) -> None:
    cls = getattr(exceptions, name)
    assert cls is getattr(chef_sync, name)
    assert issubclass(cls, chef_sync.ChefSyncError)
    assert cls.__module__ == "chef_sync.exceptions"
    assert cls.__doc__


def test_base_is_a_plain_exception() -> None:
    assert chef_sync.ChefSyncError.__bases__ == (Exception,)


@pytest.mark.parametrize("name", ["ChefSyncError", *SUBCLASSES])
def test_mapping_raises_the_named_class_with_common_attributes(name: str) -> None:
    with pytest.raises(getattr(exceptions, name)) as info:
        _chef_sync._raise_error(
            name,
            "boom on prod",
            status=502,
            messages=["upstream failed", "retry later"],
            server="prod",
            url="https://chef.example/cookbooks",
        )
    err = info.value
    assert type(err).__name__ == name
    assert str(err) == "boom on prod"
    assert err.status == 502
    assert err.messages == ("upstream failed", "retry later")
    assert err.server == "prod"
    assert err.url == "https://chef.example/cookbooks"


def test_config_error_carries_file_and_line() -> None:
    with pytest.raises(chef_sync.ConfigError) as info:
        _chef_sync._raise_error("ConfigError", "knife.rb:7: bad", file=".chef/knife.rb", line=7)
    assert info.value.file == ".chef/knife.rb"
    assert info.value.line == 7
    assert info.value.status is None
    assert info.value.messages == ()


def test_conflict_and_network_flags() -> None:
    with pytest.raises(chef_sync.ConflictError) as conflict:
        _chef_sync._raise_error("ConflictError", "frozen", status=409, frozen=True)
    assert conflict.value.frozen is True
    with pytest.raises(chef_sync.NetworkError) as network:
        _chef_sync._raise_error("NetworkError", "timed out", timed_out=True)
    assert network.value.timed_out is True


def test_attributes_have_defaults_when_raised_from_python() -> None:
    err = chef_sync.ConfigError("raised by hand")
    assert (err.status, err.messages, err.server, err.url) == (None, (), None, None)
    assert (err.file, err.line) == (None, None)
    assert chef_sync.ConflictError("x").frozen is False
    assert chef_sync.NetworkError("x").timed_out is False


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="KeyError"):
        _chef_sync._raise_error("KeyError", "no")


def test_exceptions_pickle_with_their_attributes() -> None:
    try:
        _chef_sync._raise_error("NotFoundError", "gone", status=404, messages=["no cookbook"])
    except chef_sync.NotFoundError as err:
        copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is chef_sync.NotFoundError
    assert (str(copy), copy.status, copy.messages) == ("gone", 404, ("no cookbook",))


KEY = Path(__file__).resolve().parents[2] / "tests" / "data" / "keys" / "mixlib-spec.pem"


class _ExpiredLicence(BaseHTTPRequestHandler):
    """Answers as erchef does when its licence expired (oc_chef_wm_base): 403, with
    ``{"error": WARNING, "message": "invalid-license"}`` and the ``X-Ops-License`` header."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.dumps(
            {"error": "Your Chef Infra Server license has expired", "message": "invalid-license"}
        ).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header(
            "X-Ops-License",
            json.dumps({"licenseType": "commercial", "gracePeriod": False}),
        )
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def expired_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _ExpiredLicence)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_expired_licence_raises_license_error_not_authentication_error(
    expired_server: str,
) -> None:
    assert not issubclass(chef_sync.LicenseError, chef_sync.AuthenticationError)
    client = chef_sync.ChefClient(expired_server, "spec-user", KEY, retries=0)
    with pytest.raises(chef_sync.LicenseError) as info:
        client.get("nodes")
    err = info.value
    assert not isinstance(err, chef_sync.AuthenticationError)
    assert err.status == 403
    assert err.messages == ("Your Chef Infra Server license has expired", "invalid-license")
    assert err.url == f"{expired_server}/nodes"
    assert "license has expired" in str(err)
