"""The paper's image claims, checked on the runs: Table 1's NFE and accuracy claims and,
where the runs kept their per-step history, Figure 10's (``_catch_up``).

Each is a :class:`~anode_plugin.experiments.ClaimCheck` with the shared margin rule: it
holds when ANODE's mean margin over NODE is positive and beyond the seeds' spread.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from .._shared import MIN_SEEDS, ClaimCheck, margin_verdict, too_few_seeds
from ._catch_up import add_catch_up
from ._setups import MODELS

__all__ = ["image_claims"]

_SECTION = "5.2 (Table 1)"
_CRITERION = (
    "per seed, ANODE's margin over NODE; the mean margin positive and beyond the "
    "seeds' spread (standard deviation of the margins)"
)
#: The claims: (figure of a run, claim, scale of the figure, the comparison ANODE wins by).
_CHECKS = (
    ("nfe_forward", "ANODE uses fewer forward NFE per training step than NODE", 1, "<"),
    (
        "nfe_forward_last_epoch",
        "ANODE uses fewer forward NFE per training step than NODE in the last epoch",
        1,
        "<",
    ),
    ("nfe_backward", "ANODE uses fewer backward NFE per training step than NODE", 1, "<"),
    ("test_acc", "ANODE's test accuracy is higher than NODE's", 100, ">"),
)
#: Figure 10's claims, where the runs kept their per-step history (see ``_catch_up``).
_CATCH_UP_CHECKS = (
    (
        "steps_to_node_loss",
        "ANODE reaches the NODE's final training loss in fewer iterations (Figure 10)",
        1,
        "<",
    ),
    (
        "nfe_to_node_loss",
        "ANODE reaches the NODE's final training loss with fewer forward NFE, summed over "
        "its iterations (Figure 10, NFEs vs loss)",
        1,
        "<",
    ),
)


def image_claims(runs: list[dict[str, Any]]) -> list[ClaimCheck]:
    """The paper's image claims, each checked on the seeds that ran both models."""
    add_catch_up(runs)
    by_seed = {(r["model"], r["seed"]): r for r in runs}
    seeds = [s for s in dict.fromkeys(r["seed"] for r in runs) if ("node", s) in by_seed]
    seeds = [s for s in seeds if ("anode", s) in by_seed]
    checks = []
    mine = [by_seed[m, s] for s in seeds for m in MODELS]
    catch_up = seeds and all("steps_to_node_loss" in r for r in mine)
    # Runs that stop inside their first epoch: the last epoch is the whole run.
    one_epoch = all(len(r.get("nfe_forward_per_epoch", ())) < 2 for r in mine)
    for key, claim, scale, op in _CHECKS + (_CATCH_UP_CHECKS if catch_up else ()):
        if key == "nfe_forward_last_epoch" and one_epoch and seeds:
            continue
        if not seeds:
            checks.append(
                ClaimCheck(key, _SECTION, claim, _CRITERION, "no seed ran both models", None)
            )
            continue
        # A target never reached counts as never: infinitely many iterations.
        anode = [scale * _or_inf(by_seed["anode", s][key]) for s in seeds]
        node = [scale * _or_inf(by_seed["node", s][key]) for s in seeds]
        margins = [(n - a) if op == "<" else (a - n) for a, n in zip(anode, node, strict=True)]
        holds, verdict = margin_verdict(margins)
        wins = sum(m > 0 for m in margins)
        pairs = ", ".join(f"{_shown(a)} vs {_shown(n)}" for a, n in zip(anode, node, strict=True))
        measured = (
            f"ANODE {_shown(statistics.fmean(anode))} vs NODE {_shown(statistics.fmean(node))} "
            f"(mean over {len(seeds)} seed(s)); ANODE {op} NODE in {wins}/{len(seeds)} "
            f"seed(s) ({pairs})"
        )
        # JSON has no infinity: a target never reached is saved as None.
        figures = {
            "seeds": seeds,
            "anode": [a if math.isfinite(a) else None for a in anode],
            "node": [n if math.isfinite(n) else None for n in node],
            "verdict": verdict,
        }
        reason = ""
        if holds is None:
            few = len(seeds) < MIN_SEEDS
            reason = too_few_seeds(len(seeds)) if few else "not judged: a margin is not a number"
        checks.append(
            ClaimCheck(key, _SECTION, claim, _CRITERION, measured, holds, figures, reason)
        )
    return checks


def _shown(value: float) -> str:
    return "never" if value == math.inf else f"{value:.2f}"


def _or_inf(value: float | None) -> float:
    return math.inf if value is None else value
