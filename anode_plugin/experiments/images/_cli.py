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

from ..._command_line import ExplainedParserErrors, check_output_folder, run_command
from ._benchmark import run_benchmark
from ._config import ImageBenchmarkConfig

__all__ = ["main"]


class _Parser(ExplainedParserErrors, ArgumentParser):
    """jsonargparse's parser, with the package's words where jsonargparse's mislead."""


def _parser() -> ArgumentParser:
    parser = _Parser(
        prog="anode-images",
        description="Train the parameter-matched NODE and ANODE over seeds; write Table 1 "
        "and figures.",
    )
    parser.add_argument("--config", action=ActionConfigFile, help="Path to a configuration file.")
    parser.add_class_arguments(ImageBenchmarkConfig, None, as_group=False)
    return parser


def main(args: Sequence[str] | None = None) -> None:
    """Parse ``args`` (``None``: ``sys.argv``) and run the image benchmark.

    A user's mistake is answered in two lines, exit status 2 (``ANODE_TRACEBACK=1``
    shows the traceback).
    """
    run_command("anode-images", lambda: _main(args), args)


def _main(args: Sequence[str] | None) -> None:
    parser = _parser()
    namespace = parser.parse_args(None if args is None else list(args))
    options = {k: v for k, v in namespace.as_dict().items() if k != "config"}
    config = ImageBenchmarkConfig(**options)
    # Before any training: a full or unwritable folder is found now, not after the runs.
    check_output_folder(config.out_dir, option="--out_dir")
    table = run_benchmark(config)
    claims = table.parent / "claims.md"
    print(claims.read_text() if claims.is_file() else table.read_text())
    print(f"Table: {table}\nFigures: {table.parent / 'figures.png'}")
    if claims.is_file():
        print(f"Claims: {claims}")


if __name__ == "__main__":
    main()
