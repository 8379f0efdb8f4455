"""The paper's reproduction, apart from the library it exercises.

The toy experiments (sections 3, 4 and 5.1: runner, claims, figures and report; run
them with ``anode-experiments toy``), the ResNet baseline and its parameter matching,
and :mod:`anode_plugin.experiments.images` (section 5.2: the conv model, its parameter
matching and the benchmark behind ``anode-images``). ``anode-experiments augmentations``
compares the augmentation kinds (zeros, input layer, second order) with NODE.
``anode-experiments cnf`` compares plain and augmented continuous normalizing flows.
"""

from ._augmentations import (
    AUGMENTATION_KINDS,
    AUGMENTATION_TASKS,
    AugmentationsConfig,
    damped_oscillator,
    match_hidden_dim,
    run_augmentations,
)
from ._augmentations_report import check_augmentation_claims, write_augmentations_outputs
from ._claim_check import ClaimCheck
from ._claims import CLAIMS, check_all
from ._cli import build_parser, main, run_experiment, write_outputs
from ._cnf import CNFConfig, match_cnf_hidden, run_cnf
from ._cnf_report import write_cnf_outputs
from ._cnf_summary import CNF_CLAIMS, cnf_claims
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
from ._runner import (
    MODEL_NAMES,
    RunGroup,
    RunSpec,
    build_feature_map,
    run_groups,
    run_models,
)
from ._toy_claims import nfe_start_end
from .images import conv_ode, count_image_parameters, match_num_filters

__all__ = [
    "AUGMENTATION_KINDS",
    "AUGMENTATION_TASKS",
    "CLAIMS",
    "CNF_CLAIMS",
    "EXPERIMENTS",
    "MODEL_NAMES",
    "AugmentationsConfig",
    "CNFConfig",
    "ClaimCheck",
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
    "build_parser",
    "check_all",
    "check_augmentation_claims",
    "cnf_claims",
    "conv_ode",
    "count_image_parameters",
    "damped_oscillator",
    "g1d_groups",
    "generalisation_groups",
    "main",
    "match_cnf_hidden",
    "match_hidden_dim",
    "match_num_filters",
    "match_resnet_hidden_dim",
    "nfe_start_end",
    "render_report",
    "run_augmentations",
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
    "write_augmentations_outputs",
    "write_cnf_outputs",
    "write_outputs",
    "write_report",
]
