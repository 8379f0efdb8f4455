"""``anode-experiments augmentations``: which augmentation fits, and at what NFE.

NODE, zero augmentation (ANODE), a learned input layer (IL-NODE) and second-order
augmentation (SONODE) at matched parameter counts, over several seeds, on ``g1d``, the
2-D spheres and a damped oscillator: settings (``_config``), tasks and models
(``_tasks``), one run (``_runs``), every run (``_run``), claims, figures and report.
"""

from ._claims import AUGMENTATION_CLAIMS, check_augmentation_claims
from ._config import AUGMENTATION_KINDS, AUGMENTATION_TASKS, AugmentationsConfig
from ._report import (
    augmentations_command,
    augmentations_report_command,
    render_augmentations_report,
    write_augmentations_outputs,
)
from ._run import run_augmentations
from ._runs import AugmentationRun, train_augmentation_run
from ._tasks import build_augmentation_model, damped_oscillator, match_hidden_dim

__all__ = [
    "AUGMENTATION_CLAIMS",
    "AUGMENTATION_KINDS",
    "AUGMENTATION_TASKS",
    "AugmentationRun",
    "AugmentationsConfig",
    "augmentations_command",
    "augmentations_report_command",
    "build_augmentation_model",
    "check_augmentation_claims",
    "damped_oscillator",
    "match_hidden_dim",
    "render_augmentations_report",
    "run_augmentations",
    "train_augmentation_run",
    "write_augmentations_outputs",
]
