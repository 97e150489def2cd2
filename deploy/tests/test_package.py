"""deploy/package.py: the layer and function zips have the layout Lambda expects."""

from __future__ import annotations

import subprocess
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
        assert zf.namelist() == ["handler.py", "ssm_rollout.py"]
        assert "def lambda_handler(" in zf.read("handler.py").decode()
        assert "def step_handler(" in zf.read("handler.py").decode()
        assert "def plan_commands(" in zf.read("ssm_rollout.py").decode()


def test_function_zip_holds_every_module_the_handler_imports(tmp_path: Path) -> None:
    """Imports the handler from the unpacked zip alone (no examples/lambda on the path)."""
    out = package.build_function(tmp_path / "fn.zip")
    unpacked = tmp_path / "fn"
    with zipfile.ZipFile(out) as zf:
        zf.extractall(unpacked)
    probe = (
        "import sys; sys.path[:] = [p for p in sys.path if 'examples' not in p]; "
        f"sys.path.insert(0, {str(unpacked)!r}); import handler, ssm_rollout; "
        f"assert handler.__file__.startswith({str(unpacked)!r}); print(sorted(handler.STEPS))"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == [
        "['canary',",
        "'poll',",
        "'report',",
        "'sync',",
        "'verify',",
        "'wave']",
    ]


def named_wheel(dir: Path, platform: str) -> Path:
    return fake_wheel(dir / f"chef_sync-0.1.0-cp39-abi3-{platform}.whl")


def test_package_makes_wheels_one_layer_per_architecture_and_the_function(
    tmp_path: Path,
) -> None:
    x86 = named_wheel(tmp_path, "manylinux_2_17_x86_64.manylinux2014_x86_64")
    arm = named_wheel(tmp_path, "manylinux_2_17_aarch64.manylinux2014_aarch64")
    out = tmp_path / "deploy"
    written = package.package([x86, arm], out)
    assert sorted(p.relative_to(out).as_posix() for p in written) == [
        "chef-client-function.zip",
        "chef-sync-layer-arm64.zip",
        "chef-sync-layer-x86_64.zip",
        f"wheels/{arm.name}",
        f"wheels/{x86.name}",
    ]
    assert (out / "wheels" / x86.name).read_bytes() == x86.read_bytes()
    with zipfile.ZipFile(out / "chef-sync-layer-arm64.zip") as zf:
        assert "python/chef_sync/__init__.py" in zf.namelist()


def test_package_refuses_unknown_or_duplicate_architectures(tmp_path: Path) -> None:
    x86 = named_wheel(tmp_path, "manylinux2014_x86_64")
    with pytest.raises(ValueError, match="not a manylinux x86_64 or aarch64 wheel"):
        package.package([named_wheel(tmp_path, "macosx_11_0_arm64")], tmp_path / "o")
    other = tmp_path / "again"
    other.mkdir()
    with pytest.raises(ValueError, match="two x86_64 wheels"):
        package.package([x86, named_wheel(other, "manylinux2014_x86_64")], tmp_path / "o")
    with pytest.raises(ValueError, match="no wheels given"):
        package.package([], tmp_path / "o")
