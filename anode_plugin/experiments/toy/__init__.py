"""The toy experiments of sections 3, 4 and 5.1 (``anode-experiments toy``).

NODE vs ANODE vs ResNet over several seeds on ``g1d``, the concentric spheres, the
shifted sines and held-out slices of the spheres: settings (``_config``), the run groups
(``_experiments``), the runner and one training run (``_runner``, ``_train``), the claims
(``_claims``, ``_claim_checks``), the figures (``_figures``, drawn with matplotlib and
imported only when drawn), the report and the subcommands (``_command``).
"""

from ._claim_checks import nfe_start_end
from ._claims import CLAIMS, check_all
from ._command import run_experiment, toy_command, toy_report_command, write_outputs
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
from ._resnet import ResNet, match_resnet_hidden_dim
from ._runner import RunGroup, RunSpec, run_groups, run_models
from ._train import MODEL_NAMES, build_feature_map

__all__ = [
    "CLAIMS",
    "EXPERIMENTS",
    "MODEL_NAMES",
    "G1dConfig",
    "GeneralisationConfig",
    "ResNet",
    "RunGroup",
    "RunSpec",
    "SeparableConfig",
    "SpheresConfig",
    "ToyConfig",
    "TrainingConfig",
    "build_feature_map",
    "check_all",
    "g1d_groups",
    "generalisation_groups",
    "match_resnet_hidden_dim",
    "nfe_start_end",
    "render_report",
    "run_experiment",
    "run_g1d",
    "run_generalisation",
    "run_groups",
    "run_models",
    "run_separable",
    "run_spheres",
    "separable_groups",
    "spheres_groups",
    "toy_command",
    "toy_report_command",
    "write_outputs",
    "write_report",
]
