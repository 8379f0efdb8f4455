"""Which adjoint runs: declared once per backend (``Backend.ADJOINTS``), and the two
adjoint classes that read it share one base."""

from __future__ import annotations

import itertools
from dataclasses import fields

import pytest
import torch
from torch import nn

from anode_plugin.solve import (
    BACKEND_TYPES,
    Adjoint,
    Backend,
    ErrorNorm,
    InterpolatedAdjoint,
    TorchdiffeqBackend,
    _adjoint,
)
from anode_plugin.solve._adjoint import AbstractAdjoint
from anode_plugin.solve._backend import AdjointSupport
from anode_plugin.solve._evaluations import Limits

T = torch.linspace(0.0, 1.0, 3)


class Field(nn.Module):
    """``f(t, z)``, an MLP of ``z`` with ``hidden`` units (one layer without)."""

    def __init__(self, hidden: int | None = None) -> None:
        super().__init__()
        if hidden is None:
            self.net = nn.Sequential(nn.Linear(3, 3), nn.Tanh())
        else:
            self.net = nn.Sequential(nn.Linear(3, hidden), nn.Tanh(), nn.Linear(hidden, 3))

    def forward(self, t, z):
        return self.net(z)


def _integral_loss(t, z):
    return z.pow(2).sum(-1)


# The rules as they were before the backends declared them (one method per backend, then
# a class attribute for the default): the declarations must choose exactly so.
LIBRARY_RUNS = {
    "torchdyn": lambda norm, seminorm, loss: seminorm is None and norm.is_full and loss is None,
    "torchdiffeq": lambda norm, seminorm, loss: loss is None,
    "torchode": lambda norm, seminorm, loss: False,
    "native": lambda norm, seminorm, loss: False,
}
DEFAULT_SEMINORM = {"torchdyn": True, "torchdiffeq": False, "torchode": False, "native": True}


def _overrides(backend: type[Backend], method: str) -> bool:
    return getattr(backend, method) is not getattr(Backend, method)


@pytest.mark.parametrize("name", BACKEND_TYPES)
def test_declared_adjoints_are_the_methods_the_backend_implements(name):
    backend = BACKEND_TYPES[name]
    assert isinstance(backend.ADJOINTS, AdjointSupport)
    offers = backend.ADJOINTS
    assert bool(offers.library_seminorms) == _overrides(backend, "library_adjoint")
    assert offers.interpolated == _overrides(backend, "interpolated_adjoint")
    assert offers.interpolated == ("interpolated_adjoint" in backend.SENSITIVITIES)
    assert {"autograd", "adjoint"} <= set(backend.SENSITIVITIES)


def test_each_backend_declares_its_libraries_adjoints():
    # The rules as they were, one per backend: torchdyn's own adjoint for seminorm=None
    # and the full forward norm; torchdiffeq's for any norm; ours everywhere else.
    assert {name: b.ADJOINTS for name, b in BACKEND_TYPES.items()} == {
        "torchdyn": AdjointSupport(seminorm=True, library_seminorms=(None,), interpolated=True),
        "torchdiffeq": AdjointSupport(
            seminorm=False, library_seminorms=(None, True, False), library_forward_norms=True
        ),
        "torchode": AdjointSupport(seminorm=False),
        "native": AdjointSupport(seminorm=True),
    }


def test_a_backend_without_a_declared_adjoint_refuses_it_by_name():
    native, torchdiffeq = BACKEND_TYPES["native"](), TorchdiffeqBackend()
    with pytest.raises(ValueError, match=r"^backend='native' has no adjoint of its own\.$"):
        native.library_adjoint(
            Field(), torch.ones(2, 3), T, norm=ErrorNorm(), limits=Limits(), solver=None,
            atol=1e-4, rtol=1e-4, seminorm=None,
        )  # fmt: skip
    message = (
        r"sensitivity='interpolated_adjoint' is torchdyn's; backend='torchdiffeq' has no "
        r"interpolated adjoint\."
    )
    with pytest.raises(ValueError, match=message):
        torchdiffeq.interpolated_adjoint(
            Field(), torch.ones(2, 3), T, limits=Limits(), solver=None, atol=1e-4, rtol=1e-4
        )
    # The adjoint refuses it before looking at the state or the times.
    with pytest.raises(ValueError, match=message):
        InterpolatedAdjoint().solve(
            torchdiffeq, Field(), torch.ones(2, 2, 3), T.flip(0), norm=ErrorNorm(), limits=Limits()
        )


@pytest.mark.parametrize("name", BACKEND_TYPES)
def test_the_adjoint_that_runs_is_the_declared_one(name, monkeypatch):
    backend_type = BACKEND_TYPES[name]
    library_calls, backsolve_seminorms = [], []
    library = backend_type.library_adjoint
    backsolve = _adjoint.backsolve_adjoint

    def spy_library(self, *args, **kwargs):
        library_calls.append(kwargs["seminorm"])
        return library(self, *args, **kwargs)

    def spy_backsolve(*args, **kwargs):
        backsolve_seminorms.append(kwargs["seminorm"])
        return backsolve(*args, **kwargs)

    monkeypatch.setattr(backend_type, "library_adjoint", spy_library)
    monkeypatch.setattr(_adjoint, "backsolve_adjoint", spy_backsolve)
    torch.manual_seed(0)
    field, z0 = Field(), torch.randn(4, 3)
    cases = itertools.product((None, True, False), (ErrorNorm(), ErrorNorm(2)), (None, 1))
    for seminorm, norm, integral in cases:
        library_calls.clear(), backsolve_seminorms.clear()
        start = z0.clone().requires_grad_(True)
        solution = Adjoint(seminorm=seminorm).solve(
            backend_type(),
            field,
            start,
            T,
            norm=norm,
            limits=Limits(),
            integral_loss=_integral_loss if integral else None,
        )
        solution.ys[-1].sum().backward()
        assert start.grad is not None
        loss = _integral_loss if integral else None
        if LIBRARY_RUNS[name](norm, seminorm, loss):
            assert (library_calls, backsolve_seminorms) == ([seminorm], [])
        else:
            expected = DEFAULT_SEMINORM[name] if seminorm is None else seminorm
            assert (library_calls, backsolve_seminorms) == ([], [expected])


def test_torchdiffeqs_declared_default_norm_is_its_own_adjoints_default():
    # seminorm=None runs torchdiffeq's own adjoint as it is; where ours runs instead (an
    # integral loss), ADJOINTS.seminorm keeps the same backward norm: the full one.
    # Measured backward NFE: 34 for None and False, 28 for True.
    torch.manual_seed(0)
    field = Field(hidden=16)
    z0 = torch.randn(8, 3)
    backward = {}
    for seminorm in (None, True, False):
        run = TorchdiffeqBackend().library_adjoint(
            field, z0.clone().requires_grad_(True), T, norm=ErrorNorm(),
            limits=Limits(), solver=None, atol=1e-4, rtol=1e-4, seminorm=seminorm,
        )  # fmt: skip
        run.solution.ys[1:].square().sum().backward()
        backward[seminorm] = run.backward.stats().nfe
    assert backward[None] == backward[TorchdiffeqBackend.ADJOINTS.seminorm]
    assert backward[True] < backward[False]


@pytest.mark.parametrize("name", BACKEND_TYPES)
def test_the_interpolated_adjoint_runs_where_declared(name):
    backend = BACKEND_TYPES[name]()
    start = torch.randn(4, 3, requires_grad=True)
    run = InterpolatedAdjoint().solve
    if not backend.ADJOINTS.interpolated:
        with pytest.raises(ValueError, match="has no interpolated adjoint"):
            run(backend, Field(), start, T, norm=ErrorNorm(), limits=Limits())
        return
    solution = run(backend, Field(), start, T, norm=ErrorNorm(), limits=Limits())
    solution.ys.sum().backward()
    assert solution.ys.shape == (3, 4, 3) and start.grad is not None


def test_the_adjoints_share_one_base_and_keep_their_faces():
    assert issubclass(Adjoint, AbstractAdjoint) and issubclass(InterpolatedAdjoint, AbstractAdjoint)
    assert not issubclass(InterpolatedAdjoint, Adjoint)
    with pytest.raises(TypeError, match="abstract"):
        AbstractAdjoint()
    assert [f.name for f in fields(Adjoint)] == ["solver", "atol", "rtol", "seminorm"]
    assert [f.name for f in fields(InterpolatedAdjoint)] == ["solver", "atol", "rtol"]
    assert repr(Adjoint()) == "Adjoint(solver=None, atol=0.0001, rtol=0.0001, seminorm=None)"
    assert repr(InterpolatedAdjoint(atol=1e-3)) == (
        "InterpolatedAdjoint(solver=None, atol=0.001, rtol=0.0001)"
    )
    assert (Adjoint.sensitivity, InterpolatedAdjoint.sensitivity) == (
        "adjoint",
        "interpolated_adjoint",
    )
    assert Adjoint() != InterpolatedAdjoint() and Adjoint() == Adjoint(seminorm=None)
    assert len({Adjoint(), Adjoint(), InterpolatedAdjoint()}) == 2
