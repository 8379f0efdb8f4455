"""The paper's reproduction, apart from the library it exercises.

The toy experiments (sections 3, 4 and 5.1: runner, claims, figures and report; run
them with ``anode-experiments toy``), the ResNet baseline and its parameter matching,
and :mod:`anode_plugin.experiments.images` (section 5.2: the conv model, its parameter
matching and the benchmark behind ``anode-images``). ``anode-experiments augmentations``
compares the augmentation kinds (zeros, input layer, second order) with NODE.
``anode-experiments cnf`` compares plain and augmented continuous normalizing flows.

One package per experiment (``toy``, ``augmentations``, ``cnf``, ``images``) and
``_shared`` for what they share (the worker pool, the claim record and margin rule, the
configurations' common settings, the results record, the figures' style); ``_cli``
builds the ``anode-experiments`` command from them. The names below are the public ones.
"""

from ._cli import build_parser, main
from ._shared import ClaimCheck
from .augmentations import (
    AUGMENTATION_KINDS,
    AUGMENTATION_TASKS,
    AugmentationsConfig,
    check_augmentation_claims,
    damped_oscillator,
    match_hidden_dim,
    run_augmentations,
    write_augmentations_outputs,
)
from .cnf import CNF_CLAIMS, CNFConfig, cnf_claims, match_cnf_hidden, run_cnf, write_cnf_outputs
from .images import conv_ode, count_image_parameters, match_num_filters
from .toy import (
    CLAIMS,
    EXPERIMENTS,
    MODEL_NAMES,
    G1dConfig,
    GeneralisationConfig,
    ResNet,
    RunGroup,
    RunSpec,
    SeparableConfig,
    SpheresConfig,
    ToyConfig,
    TrainingConfig,
    build_feature_map,
    check_all,
    g1d_groups,
    generalisation_groups,
    match_resnet_hidden_dim,
    nfe_start_end,
    render_report,
    run_experiment,
    run_g1d,
    run_generalisation,
    run_groups,
    run_models,
    run_separable,
    run_spheres,
    separable_groups,
    spheres_groups,
    write_outputs,
    write_report,
)

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
