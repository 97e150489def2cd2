"""ChefClient against a real goiardi: signing versions, JSON verbs, paged search, errors,
coroutines, and the GIL released while a call waits."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import chef_sync
import pytest
from goiardi_server import ADMIN, Goiardi


def node_body(name: str, instance_id: str | None = None) -> dict[str, Any]:
    automatic = {"ec2": {"instance_id": instance_id}} if instance_id else {}
    return {
        "name": name,
        "json_class": "Chef::Node",
        "chef_type": "node",
        "chef_environment": "_default",
        "run_list": ["recipe[web]"],
        "automatic": automatic,
        "normal": {},
        "default": {},
        "override": {},
    }


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.3"])
def test_every_signing_version_is_accepted(goiardi: Goiardi, version: str) -> None:
    client = chef_sync.ChefClient(goiardi.url, ADMIN, goiardi.admin_pem, sign_version=version)
    name = f"sign-{version.replace('.', '-')}"
    created = client.post("/nodes", node_body(name))
    assert created["uri"].endswith(f"/nodes/{name}")
    assert client.get(f"/nodes/{name}")["name"] == name
    assert client.sign_version == version
    assert client.api_version is not None


def test_key_from_path_str_bytes_and_pathlike(goiardi: Goiardi) -> None:
    for key in (
        goiardi.admin_key_path,
        str(goiardi.admin_key_path),
        goiardi.admin_pem,
        goiardi.admin_pem.decode(),
    ):
        client = chef_sync.ChefClient(goiardi.url + "/", ADMIN, key)
        assert client.server_url.rstrip("/") == goiardi.url
        assert isinstance(client.nodes(), dict)
    assert "PRIVATE" not in repr(client) and ADMIN in repr(client)


def test_put_get_delete_round_trip(admin: chef_sync.ChefClient) -> None:
    admin.post("/nodes", node_body("crud-1", "i-0123456789abcdef0"))
    node = admin.get("/nodes/crud-1")
    assert node["automatic"]["ec2"]["instance_id"] == "i-0123456789abcdef0"
    node["normal"] = {"tags": ["web"], "port": 8080}
    updated = admin.put("/nodes/crud-1", node)
    assert updated["normal"] == {"tags": ["web"], "port": 8080}
    assert admin.get("/nodes/crud-1")["normal"]["port"] == 8080
    assert "crud-1" in admin.nodes()
    deleted = admin.delete("/nodes/crud-1")
    assert deleted["name"] == "crud-1"
    assert "crud-1" not in admin.nodes()


def test_search_pages_through_everything(admin: chef_sync.ChefClient) -> None:
    names = [f"page-{i:02}" for i in range(7)]
    for i, name in enumerate(names):
        admin.post("/nodes", node_body(name, f"i-{i:017x}"))
    for rows in (2, 3, 7, None):
        found = admin.search("node", "name:page-*", rows=rows)
        assert sorted(n["name"] for n in found) == names, rows
    # One page: goiardi orders partial-search rows differently on every request, so pages of
    # an unsorted partial search may overlap there.
    partial = admin.search("node", "name:page-0*", keys={"id": ["ec2", "instance_id"]})
    assert sorted(r["data"]["id"] for r in partial) == [f"i-{i:017x}" for i in range(7)]
    with pytest.raises(ValueError, match="rows"):
        admin.search("node", "*:*", rows=0)


def test_not_found_carries_status_messages_and_url(admin: chef_sync.ChefClient) -> None:
    with pytest.raises(chef_sync.NotFoundError) as info:
        admin.get("/nodes/no-such-node")
    err = info.value
    assert err.status == 404
    assert err.messages and any("no-such-node" in m for m in err.messages), err.messages
    assert err.url is not None and err.url.endswith("/nodes/no-such-node")
    assert "404" in str(err)


def test_conflict_on_second_create(admin: chef_sync.ChefClient) -> None:
    admin.post("/nodes", node_body("twice"))
    with pytest.raises(chef_sync.ConflictError) as info:
        admin.post("/nodes", node_body("twice"))
    assert info.value.status == 409
    assert info.value.frozen is False


def test_wrong_key_is_an_authentication_error(
    goiardi: Goiardi, admin: chef_sync.ChefClient
) -> None:
    other = admin.post("/clients", {"name": "stranger", "admin": False})
    wrong_key = other.get("private_key") or other["chef_key"]["private_key"]
    client = chef_sync.ChefClient(goiardi.url, ADMIN, wrong_key, retries=0)
    with pytest.raises(chef_sync.AuthenticationError) as info:
        client.get("/nodes")
    err = info.value
    assert err.status == 401
    assert err.messages, "the server's own message is kept"
    assert err.url is not None and err.url.endswith("/nodes")
    assert "check the client name" in str(err)
    assert "PRIVATE KEY" not in str(err) and "PRIVATE KEY" not in repr(err)


def test_bad_arguments_are_config_errors(goiardi: Goiardi, tmp_path: Path) -> None:
    with pytest.raises(chef_sync.ConfigError, match="1.2"):
        chef_sync.ChefClient(goiardi.url, ADMIN, goiardi.admin_pem, sign_version="1.2")
    missing = tmp_path / "nope.pem"
    with pytest.raises(chef_sync.ConfigError) as info:
        chef_sync.ChefClient(goiardi.url, ADMIN, missing)
    assert info.value.file == str(missing)
    not_a_key = tmp_path / "key.pem"
    not_a_key.write_text("hello\n")
    with pytest.raises(chef_sync.ConfigError, match="not a PEM private key") as info:
        chef_sync.ChefClient(goiardi.url, ADMIN, not_a_key)
    assert info.value.file == str(not_a_key)
    with pytest.raises(chef_sync.ConfigError, match="server_url"):
        chef_sync.ChefClient("ftp://x", ADMIN, goiardi.admin_pem)
    with pytest.raises(chef_sync.ConfigError, match="timeout"):
        chef_sync.ChefClient(goiardi.url, ADMIN, goiardi.admin_pem, timeout=0)
    with pytest.raises(TypeError, match="key must be"):
        chef_sync.ChefClient(goiardi.url, ADMIN, 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not JSON serializable"):
        chef_sync.ChefClient(goiardi.url, ADMIN, goiardi.admin_pem).post("/nodes", {b"x"})


def test_unreachable_server_is_a_network_error(goiardi: Goiardi) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        # Bound but not listening: connections are refused.
        client = chef_sync.ChefClient(
            f"http://127.0.0.1:{port}", ADMIN, goiardi.admin_pem, retries=0
        )
        with pytest.raises(chef_sync.NetworkError) as info:
            client.get("/nodes")
    assert info.value.timed_out is False
    assert info.value.status is None
    assert info.value.url == f"http://127.0.0.1:{port}/nodes"


def test_coroutines_share_the_runtime(goiardi: Goiardi) -> None:
    # The client's own retries on: goiardi may close a kept-alive connection just as the
    # next request reuses it ("connection closed before message completed"), which a retry
    # absorbs as it would in any real use; the `admin` fixture turns retries off.
    admin = chef_sync.ChefClient(goiardi.url, ADMIN, goiardi.admin_pem)
    admin.post("/nodes", node_body("async-1"))

    async def main() -> tuple[Any, ...]:
        return tuple(
            await asyncio.gather(
                admin.get_async("/nodes/async-1"),
                admin.search_async("node", "name:async-1", rows=1),
                admin.nodes_async(),
                admin.put_async("/nodes/async-1", node_body("async-1", "i-00000000000000aaa")),
                admin.post_async("/nodes", node_body("async-2")),
            )
        )

    got, found, nodes, put, posted = asyncio.run(main())
    assert got["name"] == "async-1"
    assert [n["name"] for n in found] == ["async-1"]
    assert "async-1" in nodes
    assert put["automatic"]["ec2"]["instance_id"] == "i-00000000000000aaa"
    assert posted["uri"].endswith("/nodes/async-2")

    async def missing() -> Any:
        return await admin.delete_async("/nodes/never-there")

    with pytest.raises(chef_sync.NotFoundError) as info:
        asyncio.run(missing())
    assert info.value.status == 404


class HeldServer:
    """A one-request HTTP server on a Python thread that answers only when ``release`` is set
    (or never): it can only answer while the calling thread does not hold the GIL."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.port: int = self.listener.getsockname()[1]
        self.release = threading.Event()
        self.got_request = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            self.got_request.set()
            if not self.release.wait(timeout=30):
                return
            body = b'{"answer": 42}'
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )

    def close(self) -> None:
        self.release.set()
        self.listener.close()
        self.thread.join(timeout=5)


@pytest.fixture
def held() -> Iterator[HeldServer]:
    server = HeldServer()
    yield server
    server.close()


def test_gil_is_released_while_a_call_waits(goiardi: Goiardi, held: HeldServer) -> None:
    counted = 0

    def count() -> None:
        nonlocal counted
        held.got_request.wait(timeout=30)
        # Counting needs the GIL while the main thread sits in client.get().
        for _ in range(10_000):
            counted += 1
        held.release.set()

    counter = threading.Thread(target=count)
    counter.start()
    client = chef_sync.ChefClient(
        f"http://127.0.0.1:{held.port}", ADMIN, goiardi.admin_pem, timeout=20, retries=0
    )
    assert client.get("/slow") == {"answer": 42}
    counter.join()
    assert counted == 10_000


def test_timeout_is_a_network_error_that_says_so(goiardi: Goiardi, held: HeldServer) -> None:
    client = chef_sync.ChefClient(
        f"http://127.0.0.1:{held.port}", ADMIN, goiardi.admin_pem, timeout=0.5, retries=0
    )
    with pytest.raises(chef_sync.NetworkError) as info:
        client.get("/slow")
    assert info.value.timed_out is True
    assert "timed out" in str(info.value)
