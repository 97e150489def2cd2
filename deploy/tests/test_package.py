"""deploy/package.py: the layer and function zips have the layout Lambda expects."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import package


def fake_wheel(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("chef_sync/__init__.py", "from chef_sync._chef_sync import __version__\n")
        zf.writestr("chef_sync/_chef_sync.abi3.so", b"\x7fELF")
        zf.writestr("chef_sync-0.1.0.dist-info/WHEEL", "Tag: cp39-abi3-manylinux_2_17_x86_64\n")
    return path


def test_layer_puts_the_wheel_under_python(tmp_path: Path) -> None:
    out = package.build_layer(fake_wheel(tmp_path / "w.whl"), tmp_path / "layer.zip")
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == [
            "python/chef_sync-0.1.0.dist-info/WHEEL",
            "python/chef_sync/__init__.py",
            "python/chef_sync/_chef_sync.abi3.so",
        ]
        assert zf.read("python/chef_sync/_chef_sync.abi3.so") == b"\x7fELF"


def test_layer_refuses_another_wheel(tmp_path: Path) -> None:
    other = tmp_path / "other.whl"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("requests/__init__.py", "")
    with pytest.raises(ValueError, match="not a chef_sync wheel"):
        package.build_layer(other, tmp_path / "layer.zip")


def test_function_zip_has_the_handler_at_its_root(tmp_path: Path) -> None:
    out = package.build_function(tmp_path / "fn.zip")
    with zipfile.ZipFile(out) as zf:
        assert zf.namelist() == ["handler.py"]
        assert "def lambda_handler(" in zf.read("handler.py").decode()
