"""``python -m anode_plugin.experiments``: the same command as ``anode-experiments``."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
