#!/usr/bin/env python3
"""Builds the two zips deploy/template.yaml expects in CodeBucket.

* the Lambda layer: the chef_sync wheel (manylinux2014 x86_64, abi3) unpacked under
  ``python/``, where the Lambda runtime looks for packages;
* the function: ``examples/lambda/handler.py`` and ``ssm_rollout.py`` (which it imports) at the
  zip's root (``handler.lambda_handler``, and ``handler.step_handler`` for the rollout state
  machine).

Usage::

    maturin build --release --zig --compatibility manylinux2014 -m py-bindings/Cargo.toml --out dist
    python deploy/package.py dist/chef_sync-*-manylinux*.whl --out dist
    aws s3 cp dist/chef-sync-layer.zip s3://CODE_BUCKET/chef-sync/chef-sync-layer.zip
    aws s3 cp dist/chef-client-function.zip s3://CODE_BUCKET/chef-sync/chef-client-function.zip
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HANDLER = ROOT / "examples" / "lambda" / "handler.py"
#: The modules the handler imports, zipped beside it.
HANDLER_MODULES = ("ssm_rollout.py",)


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


def main() -> None:
    """Command line: ``package.py WHEEL [--out DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheel", type=Path, help="the chef_sync manylinux wheel")
    parser.add_argument("--out", type=Path, default=Path("dist"), help="output directory")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(build_layer(args.wheel, args.out / "chef-sync-layer.zip"))
    print(build_function(args.out / "chef-client-function.zip"))


if __name__ == "__main__":
    main()
