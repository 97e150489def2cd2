"""Chef repositories in the seed's layout (``.chef/knife.rb`` verbatim, U+00A0 included; one
``.chef/NAME/config.yml`` per server) pointing at local goiardi servers."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import chef_sync
from goiardi_server import ADMIN, Goiardi

#: The workspace's copy of the seed repository (knife.rb exactly as on the web page).
SEED = Path(__file__).resolve().parents[2] / "tests" / "data" / "repos" / "seed"
#: The name the seed's knife.rb signs as.
PIVOTAL = "pivotal"


def pivotal_key(server: Goiardi) -> bytes:
    """Creates the admin client ``pivotal`` the seed's knife.rb signs as (once per server)
    and returns its private key."""
    admin = chef_sync.ChefClient(server.url, ADMIN, server.admin_pem)
    cached = server.root / "pivotal.pem"
    if cached.exists():
        return cached.read_bytes()
    created = admin.post("/clients", {"name": PIVOTAL, "admin": True})
    pem = created.get("private_key") or created["chef_key"]["private_key"]
    cached.write_text(pem)
    return cached.read_bytes()


def make_repo(
    dest: Path,
    servers: Mapping[str, str],
    keys: Mapping[str, bytes] | None = None,
    cookbooks: Mapping[str, str] | None = None,
) -> Path:
    """Writes a repository: the seed's ``.chef/knife.rb`` and CA directory, ``config.yml``
    with ``server: URL`` per server name, ``private.pem`` for the servers in ``keys``, and
    ``cookbooks/NAME`` with the given metadata.rb (default: the seed's ``app``) plus a
    Berksfile naming them by path."""
    chef = dest / ".chef"
    chef.mkdir(parents=True)
    shutil.copy(SEED / ".chef" / "knife.rb", chef / "knife.rb")
    shutil.copytree(SEED / ".chef" / "ca_certs", chef / "ca_certs")
    for name, url in servers.items():
        (chef / name).mkdir()
        (chef / name / "config.yml").write_text(f"server: '{url}'\n")
        if keys and name in keys:
            (chef / name / "private.pem").write_bytes(keys[name])
    if cookbooks is None:
        cookbooks = {"app": (SEED / "cookbooks" / "app" / "metadata.rb").read_text()}
    berksfile = ["# Local Cookbooks"]
    for name, metadata in cookbooks.items():
        book = dest / "cookbooks" / name
        (book / "recipes").mkdir(parents=True)
        (book / "metadata.rb").write_text(metadata)
        (book / "recipes" / "default.rb").write_text(f"log '{name}'\n")
        berksfile.append(f"cookbook '{name}', path: 'cookbooks/{name}'")
    (dest / "Berksfile").write_text("\n".join(berksfile) + "\n")
    return dest
