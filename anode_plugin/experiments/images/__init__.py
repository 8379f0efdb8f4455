"""The paper's image experiments (section 5.2): the conv model, parameter matching and
the benchmark behind ``anode-images`` (Table 1, Figures 10-12)."""

from ._benchmark import run_benchmark, run_image_benchmark
from ._cli import main
from ._config import ImageBenchmarkConfig
from ._conv_model import conv_ode, count_image_parameters, match_num_filters
from ._setups import IMAGE_SETUPS, MODELS, PROFILES, ImageSetup

__all__ = [
    "IMAGE_SETUPS",
    "MODELS",
    "PROFILES",
    "ImageBenchmarkConfig",
    "ImageSetup",
    "conv_ode",
    "count_image_parameters",
    "main",
    "match_num_filters",
    "run_benchmark",
    "run_image_benchmark",
]
