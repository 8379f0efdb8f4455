"""Command line of the image benchmarks (Table 1, Figures 10-12 of the paper).

Examples:
    anode-images --profile cpu  # the image claims on a CPU
    anode-images --dataset digits --seeds '[0, 1, 2]'
    anode-images --dataset mnist --quick true --data_dir data \\
        --download true
    # One's own data in MNIST's format (gzipped IDX files), with MNIST's models:
    anode-images --dataset mnist --data_source idx \\
        --data_dir my-idx-folder --verify_checksums false
"""

from __future__ import annotations

from collections.abc import Sequence

from jsonargparse import CLI

from ._benchmark import run_image_benchmark

__all__ = ["main"]


def main(args: Sequence[str] | None = None) -> None:
    """Parse ``args`` (``None``: ``sys.argv``) and run :func:`run_image_benchmark`."""
    table = CLI(run_image_benchmark, args=None if args is None else list(args), as_positional=False)
    claims = table.parent / "claims.md"
    print(claims.read_text() if claims.is_file() else table.read_text())
    print(f"Table: {table}\nFigures: {table.parent / 'figures.png'}")
    if claims.is_file():
        print(f"Claims: {claims}")


if __name__ == "__main__":
    main()
