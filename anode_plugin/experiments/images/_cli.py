"""Command line of the image benchmarks (Table 1, Figures 10-12 of the paper).

The options are :class:`ImageBenchmarkConfig`'s fields, read by jsonargparse from its
types and docstring.

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

from jsonargparse import ActionConfigFile, ArgumentParser

from ._benchmark import run_benchmark
from ._config import ImageBenchmarkConfig

__all__ = ["main"]


def _parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="anode-images",
        description="Train the parameter-matched NODE and ANODE over seeds; write Table 1 "
        "and figures.",
    )
    parser.add_argument("--config", action=ActionConfigFile, help="Path to a configuration file.")
    parser.add_class_arguments(ImageBenchmarkConfig, None, as_group=False)
    return parser


def main(args: Sequence[str] | None = None) -> None:
    """Parse ``args`` (``None``: ``sys.argv``) and run the image benchmark."""
    parser = _parser()
    namespace = parser.parse_args(None if args is None else list(args))
    options = {k: v for k, v in namespace.as_dict().items() if k != "config"}
    table = run_benchmark(ImageBenchmarkConfig(**options))
    claims = table.parent / "claims.md"
    print(claims.read_text() if claims.is_file() else table.read_text())
    print(f"Table: {table}\nFigures: {table.parent / 'figures.png'}")
    if claims.is_file():
        print(f"Claims: {claims}")


if __name__ == "__main__":
    main()
