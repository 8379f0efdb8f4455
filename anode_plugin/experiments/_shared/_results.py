"""The results record every experiment writes to ``results.json``, and reading it back."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch

from ... import __version__
from ._claim_check import summary_verdict

__all__ = ["environment", "print_claims", "read_results", "results_record", "timed"]

T = TypeVar("T")


def environment(**fields: Any) -> dict[str, Any]:
    """Where the runs ran: the package's and torch's versions, then ``fields``."""
    return {"anode_plugin": __version__, "torch": torch.__version__, **fields}


def results_record(
    experiment: str,
    argv: Sequence[str],
    config: Any,
    wall_time_s: float,
    env: dict[str, Any],
    **payload: Any,
) -> dict[str, Any]:
    """The content of ``results.json``: the command, the settings, timing, then ``payload``.

    Args:
        experiment: the subcommand's name.
        argv: its command line after ``anode-experiments``.
        config: the settings (a dataclass with ``to_dict``).
        wall_time_s: seconds the runs took.
        env: from :func:`environment`.
        payload: the experiment's own entries (``experiments``, ``runs``, ``results``).
    """
    return {
        "command": " ".join(["anode-experiments", *argv]),
        "experiment": experiment,
        "config": config.to_dict(),
        "wall_time_s": wall_time_s,
        "environment": env,
        **payload,
    }


def print_claims(results: dict[str, Any], output_dir: str, files: Sequence[str]) -> None:
    """Print the files written and one line per claim with its verdict (and its data
    set, where claims are per data set)."""
    print(f"\nWrote {len(files)} files to {output_dir}: {', '.join(files)}")
    for claim in results["claims"]:
        where = f" ({claim['density']})" if "density" in claim else ""
        print(f"  [{summary_verdict(claim)}] {claim['key']}{where}: {claim['measured']}")


def read_results(path: str) -> dict[str, Any]:
    """A ``results.json`` written by a run, or an error naming the file and its fault.

    Raises:
        FileNotFoundError: there is no such file.
        ValueError: the file is truncated, not JSON, or not an experiment's results.
    """
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        text = data.decode("utf-8")
        results = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        # Cut short: the text ends inside a string, or where more was expected.
        cut = isinstance(error, json.JSONDecodeError) and (
            error.msg.startswith("Unterminated string") or error.pos >= len(text.rstrip())
        )
        fault = "truncated" if cut else "not JSON"
        raise ValueError(
            f"`results` {path!r} cannot be read: the file is {fault} ({error}). "
            "It must be a results.json that anode-experiments wrote."
        ) from None
    if not isinstance(results, dict) or "experiment" not in results:
        raise ValueError(
            f"`results` {path!r} is JSON but not an experiment's results (no "
            "'experiment' key); it must be a results.json that anode-experiments wrote."
        )
    return results


def timed(run: Callable[[], T]) -> tuple[T, float]:
    """``run()``'s result and its wall time in seconds (the results record's ``wall_time_s``)."""
    start = time.perf_counter()
    result = run()
    return result, time.perf_counter() - start
