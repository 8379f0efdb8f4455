"""The benchmark suite's sections, one module each, and the registry that names them.

``SECTIONS`` maps a section's name to the function measuring it; each function takes a
:class:`Profile` and returns its table rows. ``benchmarks/README.md`` says what each
figure means and its goal.
"""

from __future__ import annotations

from collections.abc import Callable

from ._profiles import PROFILES, Profile
from ._row import Row
from .anode_vs_node import bench_anode_vs_node
from .backends import bench_backends
from .conv_field import bench_conv_field
from .conv_step import bench_conv_step
from .efficiency import bench_efficiency
from .memory import bench_memory
from .nfe_tracking import bench_nfe_tracking
from .overhead import bench_overhead
from .peers import bench_peers
from .per_sample import bench_per_sample
from .regularisers import bench_regularisers
from .seminorm import bench_seminorm
from .torch_compile import bench_compile

__all__ = ["PROFILES", "SECTIONS", "Profile", "Row"]

SECTIONS: dict[str, Callable[[Profile], list[Row]]] = {
    "overhead": bench_overhead,
    "nfe_tracking": bench_nfe_tracking,
    "efficiency": bench_efficiency,
    "conv_field": bench_conv_field,
    "conv_step": bench_conv_step,
    "backends": bench_backends,
    "anode_vs_node": bench_anode_vs_node,
    "memory": bench_memory,
    "seminorm": bench_seminorm,
    "regularisers": bench_regularisers,
    "compile": bench_compile,
    "per_sample": bench_per_sample,
    "peers": bench_peers,
}
