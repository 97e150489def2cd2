"""Local goiardi Chef servers for the Python tests (the Rust harness in ``chef_testkit`` cannot
be used from Python).

Each server runs ``goiardi -A`` (authentication on, in memory) on 127.0.0.1 on a free port with
its own ``--conf-root``; goiardi writes the admin user's key there as ``admin.pem``. The server
is ready when that file exists and the port accepts connections, and it is stopped by killing
its PID. ``$GOIARDI`` names another binary.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

#: goiardi's built-in admin user, whose key is ``admin.pem``.
ADMIN = "admin"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Goiardi:
    """One running goiardi; :meth:`stop` kills it and removes its directory."""

    def __init__(self, port: int, root: Path, process: subprocess.Popen[bytes]) -> None:
        self.port = port
        self.root = root
        self.process = process

    @classmethod
    def start(cls, timeout: float = 30.0) -> Goiardi:
        """Starts goiardi and waits until it serves (retrying on another port if the first
        one was taken in the meantime)."""
        binary = os.environ.get("GOIARDI") or shutil.which("goiardi")
        if binary is None:
            raise RuntimeError(
                "goiardi is not installed: run `apt-get install goiardi` or set $GOIARDI"
            )
        last_error = "goiardi did not start"
        for _ in range(3):
            root = Path(tempfile.mkdtemp(prefix="goiardi-py-"))
            port = free_port()
            log = (root / "goiardi.log").open("wb")
            process = subprocess.Popen(
                [
                    binary, "-A", "-I", "127.0.0.1", "-H", "127.0.0.1", "-P", str(port),
                    "--conf-root", str(root),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()
            server = cls(port, root, process)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    last_error = f"goiardi exited with {process.returncode}: {server.log()}"
                    break
                if server.admin_key_path.exists() and _accepts(port):
                    return server
                time.sleep(0.05)
            else:
                last_error = f"goiardi did not come up in {timeout} s: {server.log()}"
            server.stop()
        raise RuntimeError(last_error)

    @property
    def url(self) -> str:
        """The server's base URL (goiardi has no ``/organizations/`` prefix)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_key_path(self) -> Path:
        """The admin user's private key."""
        return self.root / "admin.pem"

    @property
    def admin_pem(self) -> bytes:
        """The admin user's private key, PEM bytes."""
        return self.admin_key_path.read_bytes()

    def log(self) -> str:
        """What goiardi printed so far."""
        try:
            return (self.root / "goiardi.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Kills the process by its PID and removes the directory."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)
