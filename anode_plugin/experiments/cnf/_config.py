"""``anode-experiments cnf``: plain, variational, exact and flow-matched CNFs.

For each density (the 2-D toys of :data:`anode_plugin.datasets.DENSITIES` and the
dequantised 8x8 digits) and seed, four flows of at most the plain CNF's parameters
(the augmented fields are narrowed to pay for their extra parts) are trained:

- ``cnf``: a plain CNF (FFJORD), maximum likelihood;
- ``augmented_cnf``: the variational augmentation (ANF, Huang et al., 2020), on the bound;
- ``exact_augmented_cnf``: the exact augmentation (AFFJORD, Haxholli & Lorenzi, 2023);
- ``flow_matching``: the plain CNF trained by conditional flow matching (no solve per
  step); optionally ``exact_flow_matching``, the exact flow trained that way.

Recorded per run (:mod:`._train`): held-out NLL at the training solver and at a
matched number of evaluations (rk4, fixed steps), bits per dimension for the digits,
NFE of every training step, seconds per step, the importance-weighted bound for
``k = 1 ... 256`` (variational flows), and for the first seed densities and samples.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..._cnf import AugmentedCNF
from ..._validation import check_choice, check_positive_float, check_positive_int
from ..._vector_fields import MLPVectorField
from ...datasets._densities import DENSITIES
from .._shared import ExperimentSettings

__all__ = [
    "CNF_PROFILES",
    "DEFAULT_MODELS",
    "MODELS",
    "CNFConfig",
    "build_flow",
    "match_cnf_hidden",
]

DENSITY_NAMES = (*DENSITIES, "digits")
#: Every model the experiment can train (see the module docstring).
MODELS = (
    "cnf",
    "augmented_cnf",
    "exact_augmented_cnf",
    "flow_matching",
    "exact_flow_matching",
)
DEFAULT_MODELS = MODELS[:4]
#: Models trained by flow matching, and the flow each one trains.
FLOW_MATCHED = {"flow_matching": "cnf", "exact_flow_matching": "exact_augmented_cnf"}


@dataclass(frozen=True)
class CNFConfig(ExperimentSettings):
    """Settings of ``anode-experiments cnf``.

    Args:
        densities: names among ``'two_moons'``, ``'concentric_rings'``,
            ``'eight_gaussians'``, ``'checkerboard'`` and ``'digits'``.
        models: names among :data:`MODELS`.
        seeds: number of seeds per model and density.
        first_seed: the first seed.
        steps: Adam steps of maximum-likelihood training on the 2-D densities.
        digits_steps: ... on the digits.
        fm_steps: Adam steps of flow-matching training on the 2-D densities.
        digits_fm_steps: ... on the digits.
        batch_size: minibatch size.
        lr: Adam's learning rate for maximum likelihood (a fifth of it on the digits),
            annealed to 0 by a cosine schedule.
        fm_lr: Adam's learning rate for flow matching, annealed the same way.
        hidden_dim: hidden width of the plain CNF's field on the 2-D densities.
        digits_hidden_dim: hidden width of the plain CNF's field on the digits.
        augment_dims: the augmented flows' ``p`` on the 2-D densities.
        digits_augment_dims: the augmented flows' ``p`` on the digits.
        q_hidden_dim: hidden width of the variational flow's learned ``q(e | x)``.
        augment_hidden_dim: hidden width of the exact flow's augmented field ``g``.
        n_train: training points of a 2-D density (the digits use 1,497 images).
        n_test: held-out points of a 2-D density (the digits keep 300 images).
        tol: ``atol`` and ``rtol`` of the dopri5 solves.
        eval_samples: draws of the importance-weighted bound in the held-out NLL.
        matched_steps: rk4 steps of the matched-NFE evaluation (4 evaluations each).
        iw_points: held-out points of the importance-weighted bound's diagnostics.
        iw_max_samples: the largest ``k`` of those diagnostics (powers of 2 up to it).
        grid: the density figures' grid size per axis.
        figure_samples: samples drawn for the figures (first seed only).
        progress_bar: show a progress bar over the runs.
        num_threads: torch CPU threads per run.
    """

    densities: tuple[str, ...] = DENSITY_NAMES
    models: tuple[str, ...] = DEFAULT_MODELS
    seeds: int = 3
    first_seed: int = 0
    steps: int = 300
    digits_steps: int = 200
    fm_steps: int = 3000
    digits_fm_steps: int = 1000
    batch_size: int = 256
    lr: float = 1e-2
    fm_lr: float = 3e-3
    hidden_dim: int = 32
    digits_hidden_dim: int = 64
    augment_dims: int = 2
    digits_augment_dims: int = 8
    q_hidden_dim: int = 16
    augment_hidden_dim: int = 8
    n_train: int = 4000
    n_test: int = 1000
    tol: float = 1e-3
    eval_samples: int = 8
    matched_steps: int = 20
    iw_points: int = 256
    iw_max_samples: int = 256
    grid: int = 60
    figure_samples: int = 1000
    progress_bar: bool = False
    num_threads: int = 1

    def __post_init__(self) -> None:
        for name in self.densities:
            check_choice("densities", name, DENSITY_NAMES)
        for name in self.models:
            check_choice("models", name, MODELS)
        for name, value in dataclasses.asdict(self).items():
            if isinstance(value, int) and not isinstance(value, bool) and name != "first_seed":
                check_positive_int(name, value)
        check_positive_float("lr", self.lr)
        check_positive_float("fm_lr", self.fm_lr)
        check_positive_float("tol", self.tol)


#: Named settings of ``anode-experiments cnf --profile``; options given explicitly win.
#: ``long`` trains the 2-D densities four times longer (two seeds): 16 minutes on two
#: cores, held under 30 (the defaults: 5 minutes idle, 12.5 beside another job; held
#: under 15). Neither runs
#: ``exact_flow_matching`` (``--models`` adds it): its path solve makes a step cost 10x a
#: plain flow-matching step (8.8 ms on two moons, a third of an early likelihood step),
#: which at the flow-matching step counts would take most of either budget.
CNF_PROFILES: dict[str, dict[str, Any]] = {
    "default": {},
    "long": {
        "densities": tuple(DENSITIES),
        "seeds": 2,
        "steps": 1200,
        "fm_steps": 20000,
    },
}


def _parameters(flow: AugmentedCNF) -> int:
    return sum(p.numel() for p in flow.parameters())


def _flow(kind: str, d: int, p: int, hidden: int, config: CNFConfig, digits: bool) -> AugmentedCNF:
    tol = config.tol
    options: dict[str, Any] = {
        "trace": "hutchinson" if digits else "exact",
        "probe": "rademacher",
        "atol": tol,
        "rtol": tol,
        "sensitivity": "adjoint",
        "atol_adjoint": tol,
        "rtol_adjoint": tol,
    }
    if kind == "cnf":
        return AugmentedCNF(MLPVectorField(d, hidden, activation="tanh"), d, 0, **options)
    if kind == "augmented_cnf":
        field = MLPVectorField(d + p, hidden, activation="tanh")
        return AugmentedCNF(field, d, p, q="learned", q_hidden_dim=config.q_hidden_dim, **options)
    field = MLPVectorField(d + p, hidden, activation="tanh", out_dim=d)
    return AugmentedCNF(
        field,
        d,
        p,
        augmentation="exact",
        augment_hidden_dim=config.augment_hidden_dim,
        **options,
    )


def match_cnf_hidden(d: int, p: int, hidden: int, q_hidden: int) -> int:
    """The variational field's width whose parameters (``q`` included) are closest to,
    and at most, those of the plain CNF's field of width ``hidden`` on ``d`` dimensions."""
    config = CNFConfig(q_hidden_dim=q_hidden)
    return _matched_width("augmented_cnf", d, p, hidden, config, False)


def _matched_width(kind: str, d: int, p: int, hidden: int, config: CNFConfig, digits: bool) -> int:
    budget = _parameters(_flow("cnf", d, 0, hidden, config, digits))
    best = 1
    for width in range(1, 2 * hidden + 1):
        if _parameters(_flow(kind, d, p, width, config, digits)) > budget:
            break
        best = width
    return best


def build_flow(model: str, d: int, config: CNFConfig, *, digits: bool) -> AugmentedCNF:
    """The flow a model trains, at most the plain CNF's parameters.

    Args:
        model: a name from :data:`MODELS`.
        d: the data's dimension.
        config: the settings.
        digits: whether the data are the 64-D digits (their widths, ``p`` and
            Hutchinson's trace).
    """
    kind = FLOW_MATCHED.get(model, model)
    hidden = config.digits_hidden_dim if digits else config.hidden_dim
    p = config.digits_augment_dims if digits else config.augment_dims
    if kind == "cnf":
        return _flow("cnf", d, 0, hidden, config, digits)
    return _flow(kind, d, p, _matched_width(kind, d, p, hidden, config, digits), config, digits)
