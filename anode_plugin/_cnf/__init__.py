"""``AugmentedCNF``: a continuous normalizing flow with augmented entries.

The paper's augmentation pads zeros, which a density model cannot do (the flow would
map onto a degenerate set). Two ways that can (:mod:`._augmentation`):

- ``augmentation='variational'`` (augmented normalizing flows, Huang, Dinh & Courville,
  2020) draws the ``p`` extra entries ``e ~ q(e | x)`` and fits the joint flow ``F`` on
  ``[x, e]`` with the variational lower bound

      log p(x) >= E_q[ log N(F(x, e); 0, I) + log|det dF/d(x, e)| - log q(e | x) ];

- ``augmentation='exact'`` (AFFJORD, Haxholli & Lorenzi, 2023) starts the extra entries
  at a learned ``a0``, evolves them on their own and lets them steer the data's field:
  ``log p(x)`` is exact, the trace taken over the data entries only.

With ``p = 0`` either is a plain CNF (FFJORD), whose ``log_prob`` is the exact
log-density. Besides maximum likelihood, :meth:`AugmentedCNF.flow_matching_loss`
trains the field without a solve (conditional flow matching).

One job per module: the flow (``_flow``), the augmented entries' modules
(``_augmentation``) and their use (``_entries``), flow matching (``_flow_matching``),
the log-determinant's trace (``_trace``).
"""

from ._augmentation import CNF_AUGMENTATIONS, Q_KINDS, ExactAugmentation, GaussianQ
from ._entries import PATH_INTERVALS
from ._flow import AugmentedCNF
from ._flow_matching import COUPLINGS, conditional_path, require_torchcfm
from ._trace import TRACES, LogDetField

__all__ = [
    "CNF_AUGMENTATIONS",
    "COUPLINGS",
    "PATH_INTERVALS",
    "Q_KINDS",
    "TRACES",
    "AugmentedCNF",
    "ExactAugmentation",
    "GaussianQ",
    "LogDetField",
    "conditional_path",
    "require_torchcfm",
]
