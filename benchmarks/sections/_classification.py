"""Classifiers built on an ODE block, and the two cases ANODE and NODE are compared on."""

from __future__ import annotations

from torch import Tensor, nn

from anode_plugin import AugmentedNeuralODE, ConvVectorField, MLPVectorField

from ._data import digits, spheres


class Classifier(nn.Module):
    """ODE block, then a linear layer on the flattened final state."""

    def __init__(self, ode: AugmentedNeuralODE, feature_dim: int, classes: int) -> None:
        super().__init__()
        self.ode, self.head = ode, nn.Linear(feature_dim, classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.ode.features(x).flatten(1))


def anode_cases() -> list[tuple]:
    """The spheres and digits cases ANODE and NODE are trained on (see the comment below)."""
    xs, ys = spheres(1024)
    xd, yd = digits()
    # (name, data, target loss, batch, lr, {label: (field, augment_dims, feature_dim)})
    return [
        (
            "spheres 2-D",
            (xs, ys),
            0.3,
            128,
            1e-2,
            {
                "NODE": (lambda: MLPVectorField(2, 32), 0, 2),
                "ANODE p=1": (lambda: MLPVectorField(3, 32), 1, 3),
            },
        ),
        (
            "digits",
            (xd, yd),
            0.5,
            128,
            1e-2,
            {
                "NODE": (lambda: ConvVectorField(1, 32), 0, 64),
                "ANODE p=5": (lambda: ConvVectorField(6, 32), 5, 6 * 64),
            },
        ),
    ]
