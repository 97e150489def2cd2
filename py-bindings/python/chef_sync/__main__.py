"""``python -m chef_sync ...`` and the ``chef-sync`` console script: the Rust command line.

Both run the same code as the ``chef-sync`` binary (``chef_sync.cli`` in the Rust crate),
through the extension module, so a wheel is all a user installs.
"""

from __future__ import annotations

import sys

from chef_sync._chef_sync import main as _main


def main() -> int:
    """Runs ``chef-sync`` with this process's arguments and returns its exit status."""
    return _main(["chef-sync", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
