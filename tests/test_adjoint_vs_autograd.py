"""The adjoint's gradients are autograd's: one home for the property, over every model
kind and backend, with one tolerance rule.

Each case builds a model twice from the same weights, once per sensitivity, at tight
tolerances (the adjoint's own set as tight as the forward solve's: its 1e-4 default
would hide a wrong term), and compares the gradients of the same loss with respect to
every parameter and to the input. The bound of each (case, backend) is 10x the largest
difference measured on AVX512 and under ``ATEN_CPU_CAPABILITY=default`` (the table
below; the two capabilities gave the same figures to two digits).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from anode_plugin import BACKENDS, AugmentedCNF, AugmentedNeuralODE, MLPVectorField

pytestmark = pytest.mark.numerics

TOL = {"atol": 1e-9, "rtol": 1e-9, "atol_adjoint": 1e-9, "rtol_adjoint": 1e-9}
D = 2


def _ode(
    p: int, *, field_dim: int | None = None, out_dim: int | None = None, **options
) -> Callable[[str, str], nn.Module]:
    def build(backend: str, sensitivity: str) -> nn.Module:
        torch.manual_seed(0)  # the same weights for both sensitivities
        field = MLPVectorField(field_dim or D + p, 8, activation="tanh", out_dim=out_dim)
        return AugmentedNeuralODE(
            field, augment_dims=p, backend=backend, sensitivity=sensitivity, **TOL, **options
        ).double()

    return build


def _features_loss(model: nn.Module, x: Tensor) -> Tensor:
    return model.features(x).tanh().sum()


def _regularised_loss(model: nn.Module, x: Tensor) -> Tensor:
    torch.manual_seed(4)  # the same Jacobian probe for both sensitivities
    z = model.features(x)
    reg = model.regularisation
    return z.pow(2).sum() + reg["kinetic"].sum() + 3 * reg["jacobian"].sum()


def _cnf(backend: str, sensitivity: str) -> nn.Module:
    torch.manual_seed(0)
    field = MLPVectorField(D + 1, 8, activation="tanh")
    return AugmentedCNF(
        field, D, 1, q="learned", backend=backend, sensitivity=sensitivity, **TOL
    ).double()


def _cnf_loss(flow: nn.Module, x: Tensor) -> Tensor:
    torch.manual_seed(1)  # the same draw of the augmented entries
    return -flow.log_prob(x).mean()


#: name -> (builder, loss)
CASES = {
    "zeros": (_ode(1), _features_loss),
    "input_layer": (_ode(1, augmentation="input_layer"), _features_loss),
    "second_order": (
        _ode(1, augmentation="second_order", field_dim=2 * (D + 1), out_dim=D + 1),
        _features_loss,
    ),
    "seminorm": (_ode(1, seminorm=True), _features_loss),
    "full norm": (_ode(1, seminorm=False), _features_loss),
    "regularisers": (_ode(1, regularisers=("kinetic", "jacobian")), _regularised_loss),
    "cnf": (_cnf, _cnf_loss),
}
#: (case, backend) -> the largest difference measured (see the module's docstring).
MEASURED: dict[tuple[str, str], float] = {
    ("zeros", "torchdyn"): 1.6e-08,
    ("zeros", "torchdiffeq"): 1.6e-08,
    ("zeros", "torchode"): 6.6e-09,
    ("zeros", "native"): 1.2e-08,
    ("input_layer", "torchdyn"): 1.4e-08,
    ("input_layer", "torchdiffeq"): 1.7e-07,
    ("input_layer", "torchode"): 5e-09,
    ("input_layer", "native"): 1.6e-08,
    ("second_order", "torchdyn"): 4.4e-08,
    ("second_order", "torchdiffeq"): 3.2e-08,
    ("second_order", "torchode"): 5.4e-09,
    ("second_order", "native"): 9.5e-09,
    ("seminorm", "torchdyn"): 1.1e-08,
    ("seminorm", "torchdiffeq"): 6.2e-08,
    ("seminorm", "torchode"): 8.3e-09,
    ("seminorm", "native"): 1.2e-08,
    ("full norm", "torchdyn"): 1.2e-08,
    ("full norm", "torchdiffeq"): 1.6e-08,
    ("full norm", "torchode"): 6.6e-09,
    ("full norm", "native"): 6.6e-09,
    ("regularisers", "torchdyn"): 2.5e-08,
    ("regularisers", "torchdiffeq"): 4.4e-08,
    ("regularisers", "torchode"): 2.5e-08,
    ("regularisers", "native"): 3.4e-08,
    ("cnf", "torchdyn"): 5.1e-09,
    ("cnf", "torchdiffeq"): 2.7e-08,
    ("cnf", "torchode"): 4e-09,
    ("cnf", "native"): 6.9e-09,
}


def _gradients(model: nn.Module, loss: Callable, x: Tensor) -> list[Tensor]:
    leaf = x.clone().requires_grad_(True)
    if hasattr(model, "augmenter"):
        torch.manual_seed(2)  # a lazy input layer is built, the same way for both models
        model.augmenter(leaf)
    loss(model, leaf).backward()
    grads = [p.grad for n, p in model.named_parameters() if "dummy" not in n]
    assert all(g is not None for g in grads)
    return [leaf.grad, *grads]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(CASES))
def test_adjoint_gradients_are_autograds(case, backend):
    build, loss = CASES[case]
    x = torch.randn(5, D, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    reference, adjoint = build(backend, "autograd"), build(backend, "adjoint")
    expected, got = _gradients(reference, loss, x), _gradients(adjoint, loss, x)
    for a, b in zip(reference.parameters(), adjoint.parameters(), strict=True):
        assert torch.equal(a, b)  # the same weights (a lazy input layer included)
    assert adjoint.nfe.backward > 0 and reference.nfe.backward == 0
    difference = max((a - b).abs().max().item() for a, b in zip(got, expected, strict=True))
    bound = 10 * MEASURED[case, backend]
    assert difference <= bound, (case, backend, difference, bound)
