"""upload_cookbooks against goiardi: created, unchanged, frozen, forced; load errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import chef_sync
import pytest


def cookbook(root: Path, name: str, version: str, depends: str = "") -> Path:
    book = root / name
    (book / "recipes").mkdir(parents=True)
    meta = f"name '{name}'\nversion '{version}'\n"
    if depends:
        meta += f"depends '{depends}'\n"
    (book / "metadata.rb").write_text(meta)
    (book / "recipes" / "default.rb").write_text(f"log '{name} {version}'\n")
    (book / "README.md").write_text(f"# {name}\n")
    return book


def test_upload_then_unchanged_then_frozen_then_forced(
    admin: chef_sync.ChefClient, tmp_path: Path
) -> None:
    base = cookbook(tmp_path, "py_base", "1.0.0")
    web = cookbook(tmp_path, "py_web", "0.3.1", depends="py_base")

    first = chef_sync.upload_cookbooks(admin, [web, base], freeze=True)
    assert {(c.name, c.version, c.outcome) for c in first} == {
        ("py_base", "1.0.0", "created"),
        ("py_web", "0.3.1", "created"),
    }
    assert all(c.ok and c.error is None and c.files_sent >= 2 for c in first)
    assert sum(c.bytes_sent for c in first) > 0
    manifest = admin.get("/cookbooks/py_web/0.3.1")
    assert manifest["metadata"]["dependencies"] == {"py_base": ">= 0.0.0"}
    assert [r["name"] for r in manifest["recipes"]] == ["default.rb"]

    assert admin.get("/cookbooks/py_base/1.0.0")["frozen?"] is True

    again = chef_sync.upload_cookbooks(admin, [web, base])
    assert [c.outcome for c in again] == ["unchanged", "unchanged"]
    assert sum(c.files_sent for c in again) == 0

    (base / "recipes" / "default.rb").write_text("log 'changed'\n")
    blocked = chef_sync.upload_cookbooks(admin, [base])
    assert [(c.outcome, c.ok) for c in blocked] == [("frozen_conflict", False)]
    assert blocked[0].to_dict()["outcome"] == "frozen_conflict"

    async def force() -> list[chef_sync.CookbookOutcome]:
        return await chef_sync.upload_cookbooks_async(admin, [base], force=True)

    forced = asyncio.run(force())
    assert [c.outcome for c in forced] == ["updated"]
    assert forced[0].files_sent == 1
    assert set(forced[0].to_dict()) == {
        "name", "version", "outcome", "files_sent", "bytes_sent", "duration_ms", "error",
    }


def test_a_cookbook_that_cannot_load_raises_before_sending(
    admin: chef_sync.ChefClient, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "metadata.rb").write_text("name 'broken'\nversion '1.0.0'\n`rm -rf /`\n")
    good = cookbook(tmp_path, "py_never_sent", "1.0.0")
    with pytest.raises(chef_sync.ConfigError) as info:
        chef_sync.upload_cookbooks(admin, [good, broken])
    assert info.value.file is not None and info.value.file.endswith("metadata.rb")
    assert info.value.line == 3
    with pytest.raises(chef_sync.NotFoundError):
        admin.get("/cookbooks/py_never_sent")
