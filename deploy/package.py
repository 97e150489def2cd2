#!/usr/bin/env python3
"""Makes what deploy/template.yaml expects under CodePrefix in CodeBucket, from the wheels
``scripts/wheel`` builds:

* ``wheels/``: the chef-sync wheels as built; CodeBuild installs the x86_64 one with pip and
  runs ``chef-sync sync --json`` (no Rust, no Ruby, no ChefDK);
* ``chef-sync-layer-ARCH.zip`` per wheel (ARCH ``x86_64`` or ``arm64``, the template's
  ``Architecture``): the wheel unpacked under ``python/``, where the Lambda runtime looks for
  packages;
* ``chef-client-function.zip``: ``examples/lambda/handler.py`` and ``ssm_rollout.py`` (which it
  imports) at the zip's root (``handler.lambda_handler``, and ``handler.step_handler`` for the
  rollout state machine).

Usage::

    scripts/wheel && python deploy/package.py          # dist/*.whl -> dist/deploy/
    aws s3 sync dist/deploy s3://CODE_BUCKET/chef-sync/
"""

from __future__ import annotations

import argparse
import shutil
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HANDLER = ROOT / "examples" / "lambda" / "handler.py"
#: The modules the handler imports, zipped beside it.
HANDLER_MODULES = ("ssm_rollout.py",)
#: Wheel platform tag suffix -> Lambda architecture name.
LAMBDA_ARCHITECTURES = {"x86_64": "x86_64", "aarch64": "arm64"}


def lambda_architecture(wheel: Path) -> str:
    """The Lambda architecture (``x86_64`` or ``arm64``) a manylinux wheel is built for, from
    its file name's platform tag."""
    platform = wheel.name.removesuffix(".whl").split("-")[-1]
    for suffix, architecture in LAMBDA_ARCHITECTURES.items():
        if platform.endswith(f"_{suffix}"):
            return architecture
    raise ValueError(f"{wheel.name}: not a manylinux x86_64 or aarch64 wheel")


def build_layer(wheel: Path, out: Path) -> Path:
    """Repacks ``wheel`` as a Lambda layer zip at ``out``; returns ``out``."""
    with zipfile.ZipFile(wheel) as src:
        names = src.namelist()
        if not any(n.startswith("chef_sync/") for n in names):
            raise ValueError(f"{wheel} is not a chef_sync wheel (no chef_sync/ inside)")
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                if info.is_dir():
                    continue
                target = zipfile.ZipInfo(f"python/{info.filename}", info.date_time)
                target.external_attr = info.external_attr
                target.compress_type = zipfile.ZIP_DEFLATED
                dst.writestr(target, src.read(info))
    return out


def build_function(out: Path, handler: Path = HANDLER) -> Path:
    """Writes the function zip (``handler.py`` and its modules at its root) to ``out``;
    returns ``out``."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        dst.write(handler, "handler.py")
        for module in HANDLER_MODULES:
            dst.write(handler.parent / module, module)
    return out


def package(wheels: list[Path], out: Path) -> list[Path]:
    """Writes ``out/wheels/`` (copies of ``wheels``), one layer zip per wheel and the function
    zip; returns the files written."""
    if not wheels:
        raise ValueError("no wheels given: run scripts/wheel first")
    by_architecture: dict[str, Path] = {}
    for wheel in wheels:
        architecture = lambda_architecture(wheel)
        if architecture in by_architecture:
            raise ValueError(f"two {architecture} wheels: {by_architecture[architecture]}, {wheel}")
        by_architecture[architecture] = wheel
    (out / "wheels").mkdir(parents=True, exist_ok=True)
    written = []
    for architecture, wheel in sorted(by_architecture.items()):
        written.append(Path(shutil.copy(wheel, out / "wheels" / wheel.name)))
        written.append(build_layer(wheel, out / f"chef-sync-layer-{architecture}.zip"))
    written.append(build_function(out / "chef-client-function.zip"))
    return written


def main() -> None:
    """Command line: ``package.py [WHEEL...] [--out DIR]`` (default: the manylinux wheels in
    ``dist/``, into ``dist/deploy``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "wheels", type=Path, nargs="*", help="chef-sync manylinux wheels (default: dist/*.whl)"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "dist" / "deploy", help="output directory"
    )
    args = parser.parse_args()
    wheels = args.wheels or sorted((ROOT / "dist").glob("chef_sync-*-manylinux*.whl"))
    for path in package(wheels, args.out):
        print(path)


if __name__ == "__main__":
    main()
