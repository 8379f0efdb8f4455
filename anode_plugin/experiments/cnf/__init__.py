"""``anode-experiments cnf``: plain, variational, exact and flow-matched CNFs.

Settings, models and parameter matching (``_config``), one run (``_train``), every
run (``_run``), the summary and claims (``_summary``), figures and report, and the
subcommand (``_command``).
"""

from ._command import add_profile_argument, cnf_command, cnf_config, cnf_report_command
from ._config import (
    CNF_PROFILES,
    DEFAULT_MODELS,
    DENSITY_NAMES,
    FLOW_MATCHED,
    MODELS,
    CNFConfig,
    build_flow,
    match_cnf_hidden,
)
from ._report import write_cnf_outputs
from ._run import run_cnf
from ._summary import CNF_CLAIMS, cnf_claims, summarise

__all__ = [
    "CNF_CLAIMS",
    "CNF_PROFILES",
    "DEFAULT_MODELS",
    "DENSITY_NAMES",
    "FLOW_MATCHED",
    "MODELS",
    "CNFConfig",
    "add_profile_argument",
    "build_flow",
    "cnf_claims",
    "cnf_command",
    "cnf_config",
    "cnf_report_command",
    "match_cnf_hidden",
    "run_cnf",
    "summarise",
    "write_cnf_outputs",
]
