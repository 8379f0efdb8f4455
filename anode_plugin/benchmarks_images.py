"""Deprecated: the image benchmark's command line is ``anode_plugin.experiments.images``.

``python -m anode_plugin.benchmarks_images`` keeps working for one release; use
``anode-images`` or ``python -m anode_plugin.experiments.images``.
"""

import warnings

from .experiments.images import main

__all__ = ["main"]

warnings.warn(
    "`anode_plugin.benchmarks_images` is deprecated and will be removed in the next release; "
    "use `anode-images` or `anode_plugin.experiments.images`.",
    DeprecationWarning,
    stacklevel=2,
)

if __name__ == "__main__":
    main()
