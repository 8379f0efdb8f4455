"""The gradients of an integral loss through an adjoint: torchdyn's and the package's,
each against autograd through the solver (the exact gradients of the discrete solve).

torchdyn's adjoint adds the integral's gradient with respect to the state but not with
respect to the parameters (dg/dtheta). With a ``g`` that reads the field's parameters,
here the kinetic energy ``||f(t, x)||^2`` (Finlay et al., 2020), its parameter
gradients are off; the package's adjoint includes the term. Prints and saves, per
parameter tensor, the relative error ``||grad - exact|| / ||exact||``.

Run:
    python benchmarks/integral_loss_gradients.py
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from jsonargparse import auto_cli
from torch import nn
from torchdyn.core import NeuralODE

from anode_plugin import AugmentedNeuralODE


def _field(dim: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(dim, 32), nn.Tanh(), nn.Linear(32, dim)).double()


class _WithIntegral(nn.Module):
    """``[g, f]``: the kinetic energy integrated in column 0 of the state, beside ``f``."""

    def __init__(self, field: nn.Module) -> None:
        super().__init__()
        self.field = field

    def forward(self, t, z, args=None):  # torchdyn passes `args`
        dz = self.field(z[:, 1:])
        return torch.cat([dz.pow(2).sum(1, keepdim=True), dz], 1)


def _grads(model: nn.Module, x: torch.Tensor, t: torch.Tensor, column: bool) -> list:
    model.zero_grad()
    _, sol = model(x, t)
    # autograd carries the running integral in column 0 of the state (torchdyn's
    # convention); the adjoints add its gradients in the backward solve.
    final = sol[-1]
    loss = (final[:, 1:] if column else final).pow(2).sum()
    if column:
        loss = loss + final[:, 0].sum()
    loss.backward()
    return [p.grad.clone() for p in model.vf.parameters()]


def main(dim: int = 2, batch: int = 64, seed: int = 0, tol: float = 1e-8) -> dict:
    """Relative errors of the parameter gradients of an integral loss, per tensor."""
    torch.manual_seed(seed)
    x = torch.randn(batch, dim, dtype=torch.float64)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    results = {}
    for library in ("torchdyn", "anode_plugin"):
        field = _field(dim, seed)

        def kinetic(t, z, field=field):
            return field(z).pow(2).sum(1)

        def build(sensitivity: str, integral, library=library, field=field):
            options = dict(
                solver="dopri5",
                sensitivity=sensitivity,
                atol=tol,
                rtol=tol,
                atol_adjoint=tol,
                rtol_adjoint=tol,
                integral_loss=integral,
            )
            if library == "torchdyn":
                return NeuralODE(field, **options).double()
            return AugmentedNeuralODE(field, augment_dims=0, **options).double()

        # The exact answer: autograd with the integral in an extra column of the state.
        exact_model = (
            NeuralODE(_WithIntegral(field), solver="dopri5", atol=tol, rtol=tol).double()
            if library == "torchdyn"
            else AugmentedNeuralODE(
                _WithIntegral(field), augment_dims=0, solver="dopri5", atol=tol, rtol=tol
            ).double()
        )
        x_column = torch.cat([torch.zeros(batch, 1, dtype=torch.float64), x], 1)
        exact = _grads(exact_model, x_column, t, column=True)
        adjoint = _grads(build("adjoint", kinetic), x, t, column=False)
        results[library] = [
            float((g - e).norm() / e.norm()) for g, e in zip(adjoint, exact, strict=True)
        ]
    names = [name for name, _ in _field(dim, seed).named_parameters()]
    for library, errors in results.items():
        cells = ", ".join(f"{n} {e:.1e}" for n, e in zip(names, errors, strict=True))
        print(f"{library:>13}: relative error of each parameter gradient: {cells}")
    out = Path(__file__).parent / "results" / "integral_loss_gradients.json"
    document = {"parameters": names, "relative_errors": results, "tol": tol, "seed": seed}
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"saved {out}")
    return document


if __name__ == "__main__":
    auto_cli(main)
