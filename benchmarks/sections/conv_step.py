"""A conv training step: the package's model against the same model hand-built from
torchdyn with the field as first written (a time channel concatenated per convolution)."""

from __future__ import annotations

import torch
from reference_fields import ConcatConvVectorField  # benchmarks/reference_fields.py
from torch import nn
from torchdyn.core import NeuralODE
from torchdyn.nn import Augmenter as TorchdynAugmenter

from anode_plugin import AugmentedNeuralODE, ConvVectorField

from ._profiles import Profile
from ._row import Row
from ._timing import median_ratio, train_step

# The paper's MNIST ANODE block: 1 channel + p = 5 zero channels, 64 filters, adjoint.
CHANNELS, AUGMENT, FILTERS = 1, 5, 64
SOLVE = {"solver": "dopri5", "atol": 1e-3, "rtol": 1e-3, "sensitivity": "adjoint"}


def bench_conv_step(p: Profile) -> list[Row]:
    """Training-step time ours / hand-built torchdyn with the concatenating field."""
    torch.manual_seed(0)
    field = ConvVectorField(CHANNELS + AUGMENT, FILTERS)
    reference = ConcatConvVectorField(CHANNELS + AUGMENT, FILTERS)
    reference.load_state_dict(field.state_dict())
    # torchdyn's solver on both sides: the figure is the field's rewrite and the wrapping.
    ours = AugmentedNeuralODE(
        field, augment_dims=AUGMENT, return_t_eval=False, backend="torchdyn", **SOLVE
    )
    node = NeuralODE(reference, return_t_eval=False, **SOLVE)
    theirs = nn.Sequential(TorchdynAugmenter(1, AUGMENT, order="last"), node)
    x = torch.rand(max(p.mnist_batch, 2), CHANNELS, 28, 28)

    def loss(sol: torch.Tensor) -> torch.Tensor:
        return sol[-1].square().mean()

    # No optimiser update: both models keep the same weights, so the same solves.
    nfe: dict[str, list[float]] = {"ours": [], "theirs": []}

    def step(model: nn.Module, name: str):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)

        def once() -> float:
            ours.reset_nfe()
            node.vf.nfe = 0.0
            seconds, _ = train_step(model, optimizer, x, loss)
            nfe[name].append(ours.nfe.total if name == "ours" else node.vf.nfe)
            return seconds

        return once

    a, b = step(ours, "ours"), step(theirs, "theirs")
    a(), b()  # warm-up
    ratio, ours_s, theirs_s = median_ratio(a, b, max(p.repeats, 3))
    same_nfe = nfe["ours"] == nfe["theirs"]
    return [
        Row(
            "conv_step",
            f"MNIST-sized ANODE (p={AUGMENT}, {FILTERS} filters), batch {x.shape[0]}, adjoint",
            "training-step time ours / hand-built torchdyn with the concatenating field",
            ratio,
            "<= 0.8, same NFE",
            ratio <= 0.8 and same_nfe,
            {
                "ours_ms": 1e3 * ours_s,
                "torchdyn_ms": 1e3 * theirs_s,
                "nfe_ours": nfe["ours"][-1],
                "nfe_torchdyn": nfe["theirs"][-1],
                "nfe_identical": same_nfe,
            },
        )
    ]
