"""``python -m anode_plugin.experiments.images``: the same as ``anode-images``."""

from ._cli import main

if __name__ == "__main__":
    main()
