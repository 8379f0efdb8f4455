"""The paper's toy experiments (sections 3, 4 and 5.1): runner, claims, figures and report.

Run them with ``anode-experiments toy`` (or ``python -m anode_plugin.experiments toy``);
``anode-experiments cnf`` compares plain and augmented continuous normalizing flows.
"""

from ._claims import CLAIMS, ClaimCheck, check_all, nfe_start_end
from ._cli import build_parser, main, run_experiment, write_outputs
from ._cnf import CNF_CLAIMS, CNFConfig, cnf_claims, match_cnf_hidden, run_cnf
from ._cnf_report import write_cnf_outputs
from ._config import (
    EXPERIMENTS,
    G1dConfig,
    GeneralisationConfig,
    SeparableConfig,
    SpheresConfig,
    ToyConfig,
    TrainingConfig,
)
from ._experiments import (
    g1d_groups,
    generalisation_groups,
    run_g1d,
    run_generalisation,
    run_separable,
    run_spheres,
    separable_groups,
    spheres_groups,
)
from ._report import render_report, write_report
from ._runner import (
    MODEL_NAMES,
    RunGroup,
    RunSpec,
    build_feature_map,
    run_groups,
    run_models,
)

__all__ = [
    "CLAIMS",
    "CNF_CLAIMS",
    "EXPERIMENTS",
    "MODEL_NAMES",
    "CNFConfig",
    "ClaimCheck",
    "G1dConfig",
    "GeneralisationConfig",
    "RunGroup",
    "RunSpec",
    "SeparableConfig",
    "SpheresConfig",
    "ToyConfig",
    "TrainingConfig",
    "build_feature_map",
    "build_parser",
    "check_all",
    "cnf_claims",
    "g1d_groups",
    "generalisation_groups",
    "main",
    "match_cnf_hidden",
    "nfe_start_end",
    "render_report",
    "run_cnf",
    "run_experiment",
    "run_g1d",
    "run_generalisation",
    "run_groups",
    "run_models",
    "run_separable",
    "run_spheres",
    "separable_groups",
    "spheres_groups",
    "write_cnf_outputs",
    "write_outputs",
    "write_report",
]
