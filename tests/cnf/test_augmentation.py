"""AugmentedCNF(augmentation='exact'): the closed form, a true density, its trace, refusals."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import BACKEND_SENSITIVITIES
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from anode_plugin import (
    BACKENDS,
    AugmentedCNF,
    ExactAugmentation,
    MLPVectorField,
    StateShapeError,
)

pytestmark = pytest.mark.numerics

CNF_SENSITIVITIES = [(b, s) for b, s in BACKEND_SENSITIVITIES if s != "interpolated_adjoint"]
LOG_2PI = math.log(2 * math.pi)
TOL = 1e-8
T = 1.0
# Largest errors at TOL in float64, measured on AVX512 and under
# ATEN_CPU_CAPABILITY=default (the same on both), and bounds under 10x them. The linear
# exact flow's log-density: autograd 2.0e-7 torchdyn, 3.8e-7 torchdiffeq, 1.5e-7
# torchode, 3.3e-7 native; adjoint 3.1e-6, 3.2e-6, 2.7e-6, 2.8e-6. Its augmented path
# (the Hermite spline between the solve's 9 times): 4.6e-8 on every backend.
# The augmented entries a sample returns to: 1.0e-8, 6.7e-9, 9.4e-9, 7.2e-10 native.
EXACT_ATOL = {
    ("torchdyn", "autograd"): 2e-6,
    ("torchdiffeq", "autograd"): 3.8e-6,
    ("torchode", "autograd"): 1.5e-6,
    ("native", "autograd"): 2e-6,
    ("torchdyn", "adjoint"): 3e-5,
    ("torchdiffeq", "adjoint"): 3.2e-5,
    ("torchode", "adjoint"): 2.7e-5,
    ("native", "adjoint"): 1.5e-5,
}
PATH_ATOL = 4.5e-7
A0_ATOL = {"torchdyn": 1e-7, "torchdiffeq": 6.6e-8, "torchode": 9e-8, "native": 4e-9}
# The round trip of random MLP flows (40 draws of the test's distribution, both CPU
# capabilities): 1.7e-8 torchdyn, 8.1e-8 torchdiffeq, 4.5e-9 torchode, 3.1e-9 native;
# the augmented entries' end, across a batch: 2.2e-16, 1.1e-16 (one solve for all),
# 5.2e-10 torchode (each sample its own steps), 1.1e-16 native, alone; in a full-suite
# run once 7.3e-15: identical rows of a batched matmul round alike or not depending on
# the buffers' alignment, which depends on what ran before in the process. The bound is
# 10x that; a(T) that depended on the data would differ by far more (>= 1e-6).
ROUND_TRIP_ATOL = {"torchdyn": 1.6e-7, "torchdiffeq": 8e-7, "torchode": 4.5e-8, "native": 3e-8}
SPREAD_ATOL = {"torchdyn": 7.3e-14, "torchdiffeq": 7.3e-14, "torchode": 5e-9, "native": 7.3e-14}


class JointLinear(nn.Module):
    """The data's velocity ``A x + B a`` of the joint state ``[x, a]``."""

    def __init__(self, a: Tensor, b: Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.cat([a, b], dim=1).clone())

    def forward(self, z: Tensor) -> Tensor:
        return z @ self.weight.T


class Linear(nn.Module):
    """``g(a) = C a``."""

    def __init__(self, c: Tensor) -> None:
        super().__init__()
        self.c = nn.Parameter(c.clone())

    def forward(self, a: Tensor) -> Tensor:
        return a @ self.c.T


def _matrix(rows: int, cols: int, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.5 * torch.randn(rows, cols, generator=g, dtype=torch.float64)


def _log_normal(z: Tensor) -> Tensor:
    return -0.5 * z.pow(2).sum(-1) - 0.5 * z.shape[-1] * LOG_2PI


def _linear_flow(d: int, p: int, backend: str, sensitivity: str) -> tuple[AugmentedCNF, Tensor]:
    """An exact flow with ``d[x, a]/dt = M [x, a]``, ``M = [[A, B], [0, C]]``; and ``M``."""
    a, b, c = _matrix(d, d, 0), _matrix(d, p, 1), _matrix(p, p, 2)
    flow = AugmentedCNF(
        JointLinear(a, b),
        d,
        p,
        augmentation="exact",
        augment_field=Linear(c),
        atol=TOL,
        rtol=TOL,
        backend=backend,
        sensitivity=sensitivity,
        t_span=(0.0, T),
    ).double()
    with torch.no_grad():
        flow.exact.a0.copy_(torch.linspace(-1.0, 1.0, p, dtype=torch.float64))
    m = torch.cat([torch.cat([a, b], 1), torch.cat([torch.zeros(p, d, dtype=a.dtype), c], 1)])
    return flow, m


@pytest.mark.parametrize(("backend", "sensitivity"), CNF_SENSITIVITIES)
def test_exact_log_prob_is_the_closed_form_of_a_linear_flow(backend, sensitivity):
    # [x, a](T) = exp(MT) [x, a0]; a does not depend on x, so x -> x(T) is affine with
    # Jacobian exp(AT): log p(x) = log N(x(T)) + T tr(A), no bound.
    d, p = 2, 3
    flow, m = _linear_flow(d, p, backend, sensitivity)
    x = torch.randn(16, d, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    z0 = torch.cat([x, flow.exact.a0.detach().expand(16, p)], 1)
    z1 = z0 @ torch.linalg.matrix_exp(m * T).T
    expected = _log_normal(z1[:, :d]) + T * m[:d, :d].trace()
    got = flow.log_prob(x, samples=8)  # exact: no draws, `samples` changes nothing
    torch.testing.assert_close(got, expected, rtol=0, atol=EXACT_ATOL[backend, sensitivity])
    if sensitivity != "autograd":  # gradients reach a0 through the initial state
        got.sum().backward()
        assert flow.exact.a0.grad is not None and bool(flow.exact.a0.grad.abs().sum() > 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_augmented_path_is_the_closed_form_of_a_linear_augmented_field(backend):
    flow, m = _linear_flow(2, 2, backend, "autograd")
    s = torch.tensor([0.7, 0.0, 0.25, 1.0, 0.25], dtype=torch.float64)  # any order, repeats
    c, a0 = m[2:, 2:], flow.exact.a0.detach()
    expected = torch.stack([torch.linalg.matrix_exp(c * T * si) @ a0 for si in s])
    got = flow.augmented_path(s)
    torch.testing.assert_close(got, expected, rtol=0, atol=PATH_ATOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_sample_starts_from_the_augmented_entries_learned_start(backend):
    # The backward solve from [z, a(T)] ends at a0: a follows its own field.
    flow, _ = _linear_flow(2, 2, backend, "autograd")
    torch.manual_seed(0)
    joint = flow.sample(6, joint=True)
    assert joint.shape == (6, 4)
    a0 = flow.exact.a0.detach().expand(6, 2)
    torch.testing.assert_close(joint[:, 2:], a0, rtol=0, atol=A0_ATOL[backend])


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    p=st.integers(1, 3),
    scale=st.floats(0.5, 3.0),
    backend=st.sampled_from(BACKENDS),
)
def test_the_exact_flow_inverts_and_keeps_its_augmented_entries_apart(seed, p, scale, backend):
    # For any MLP flow: the inverse undoes the transform, and the augmented entries'
    # end does not depend on the data (every sample's a(T) is the same).
    torch.manual_seed(seed)
    flow = AugmentedCNF(
        MLPVectorField(2 + p, 8, out_dim=2, activation="tanh"),
        2,
        p,
        augmentation="exact",
        atol=1e-9,
        rtol=1e-9,
        backend=backend,
    ).double()
    x = scale * torch.randn(6, 2, dtype=torch.float64)
    z0 = torch.cat([x, flow.exact.start(x)], dim=1)
    with torch.no_grad():
        z1, _ = flow.transform(z0)
        back = flow.inverse(z1)
    torch.testing.assert_close(back, z0, rtol=0, atol=ROUND_TRIP_ATOL[backend])
    spread = float((z1[:, 2:] - z1[:1, 2:]).abs().max())
    assert spread < SPREAD_ATOL[backend], (
        f"{backend}: a(T) differs by {spread:.2e} across the batch"
    )


def test_the_exact_density_integrates_to_one_and_the_bound_does_not():
    # An MLP flow on 2-D data: the exact augmentation's density is a density (the
    # grid's sum over [-8, 8]^2 is 1 up to the grid and the solve, measured |1 - sum|
    # 2.7e-7, while its log-density differs from the base's by up to 14 nats); the
    # variational bound's exponential integrates below 1 (its gap; measured 0.954).
    torch.manual_seed(0)
    common = {"atol": 1e-6, "rtol": 1e-6, "t_span": (0.0, 1.0)}
    exact = AugmentedCNF(
        MLPVectorField(4, 16, out_dim=2, activation="tanh"), 2, 2, augmentation="exact", **common
    ).double()
    variational = AugmentedCNF(MLPVectorField(4, 16, activation="tanh"), 2, 2, **common).double()
    for flow in (exact, variational):  # a flow that moves mass: scale the last layer up
        with torch.no_grad():
            flow.vector_field.fc3.weight.mul_(8.0)
    axis = torch.linspace(-8, 8, 161, dtype=torch.float64)
    xx, yy = torch.meshgrid(axis, axis, indexing="xy")
    grid = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
    cell = float(axis[1] - axis[0]) ** 2
    with torch.no_grad():
        exact_mass = float(exact.log_prob(grid).exp().sum()) * cell
        bound_mass = float(variational.log_prob(grid).exp().sum()) * cell
    assert abs(exact_mass - 1.0) < 2.7e-6
    assert bound_mass < 0.99


@pytest.mark.parametrize("probe", ["gaussian", "rademacher"])
def test_hutchinson_traces_the_data_block_only(probe):
    # E[eps^T J eps] with eps zero on the augmented entries: tr(df/dx), not tr(J).
    flow, _ = _linear_flow(2, 3, "torchdyn", "autograd")
    hutchinson = AugmentedCNF(
        flow.vector_field,
        2,
        3,
        augmentation="exact",
        augment_field=flow.exact.field.field,
        trace="hutchinson",
        probe=probe,
        atol=TOL,
        rtol=TOL,
    ).double()
    hutchinson.exact.a0.data = flow.exact.a0.data
    x = torch.tensor([[0.3, -0.2]], dtype=torch.float64)
    torch.manual_seed(0)
    with torch.no_grad():
        estimates = hutchinson.log_prob(x.expand(4000, 2))
        exact = flow.log_prob(x)
    spread = 5 * float(estimates.std()) / math.sqrt(4000) + 1e-7
    assert abs(float(estimates.mean() - exact[0])) < spread
    # The whole Jacobian's trace would add T tr(C) (0.52 here): the mask matters.
    unmasked = float(exact[0]) + T * float(torch.trace(flow.exact.field.field.c.detach()))
    assert abs(float(estimates.mean()) - unmasked) > 3 * spread


def test_an_exact_flow_needs_a_field_that_returns_the_data_velocity():
    flow = AugmentedCNF(MLPVectorField(4, 8), 2, 2, augmentation="exact")
    with pytest.raises(StateShapeError, match=r"must return \[batch, 2\].*out_dim=2"):
        flow.log_prob(torch.randn(3, 2))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"augmentation": "zeros"}, r"`augmentation` must be one of \['variational', 'exact'\]"),
        ({"augmentation": "exact", "augment_hidden_dim": 0}, "`augment_hidden_dim` must be"),
        ({"augmentation": "exact", "q": "learned"}, r"q='learned' is the variational"),
        ({"augment_field": nn.Linear(2, 2)}, r"`augment_field` is the exact augmentation's"),
    ],
)
def test_bad_augmentation_options_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AugmentedCNF(MLPVectorField(4, 8, out_dim=2), 2, 2, **kwargs)


def test_an_exact_flow_draws_no_augmentation():
    flow = AugmentedCNF(MLPVectorField(4, 8, out_dim=2), 2, 2, augmentation="exact")
    with pytest.raises(ValueError, match="entries are not drawn"):
        flow.draw_augmentation(torch.zeros(3, 2))


def test_a_plain_flow_has_no_augmented_path():
    flow = AugmentedCNF(MLPVectorField(2, 8), 2, 0, augmentation="exact")
    assert flow.exact is None and flow.is_exact
    with pytest.raises(ValueError, match=r"augmented_path.*augment_dims=0"):
        flow.augmented_path(torch.zeros(1))


def test_exact_augmentation_owns_its_start_and_field():
    augmentation = ExactAugmentation(3)
    assert augmentation.a0.shape == (3,)
    assert augmentation.start(torch.zeros(5, 2)).shape == (5, 3)
    names = {name for name, _ in augmentation.named_parameters()}
    assert "a0" in names and len(names) == 5  # a0 and the default MLP's two layers
    with pytest.raises(ValueError, match="`augment_dims` must be a positive integer, got 0"):
        ExactAugmentation(0)
    # The default g: p -> 8 -> p with tanh between (smooth: the trace's gradient needs
    # second derivatives).
    g = augmentation.field.field
    assert [type(m) for m in g] == [nn.Linear, nn.Tanh, nn.Linear]
    assert (g[0].in_features, g[0].out_features, g[2].out_features) == (3, 8, 3)


class Drift(nn.Module):
    """``g(t, a) = t w``: the augmented entries' closed form is ``a0 + t^2 w / 2``."""

    def __init__(self, p: int) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.linspace(0.5, 1.5, p, dtype=torch.float64))

    def forward(self, t: Tensor, a: Tensor) -> Tensor:
        return torch.as_tensor(t, dtype=a.dtype).reshape(-1, 1) * self.w.expand_as(a)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_time_dependent_augmented_field_gets_the_solvers_time(backend):
    p = 2
    flow = AugmentedCNF(
        MLPVectorField(4, 8, out_dim=2, activation="tanh"),
        2,
        p,
        augmentation="exact",
        augment_field=Drift(p),
        atol=TOL,
        rtol=TOL,
        backend=backend,
        t_span=(0.0, 2.0),
    ).double()
    s = torch.tensor([0.0, 0.3, 1.0], dtype=torch.float64)
    w, a0 = flow.exact.field.field.w.detach(), flow.exact.a0.detach()
    expected = a0 + (2.0 * s).pow(2).unsqueeze(1) * w / 2
    # a(t) is quadratic in t, so the solve and the Hermite spline are exact up to
    # rounding: measured 4.4e-16, 2.2e-16, 2.7e-15 (AVX512; 8.9e-16 for torchode under
    # ATEN_CPU_CAPABILITY=default); a sample's augmented entries end at a0 to 1.9e-8,
    # 3.9e-15, 8.4e-15, 1.1e-15 native (the largest of both capabilities).
    torch.testing.assert_close(flow.augmented_path(s), expected, rtol=0, atol=2.5e-14)
    with torch.no_grad():  # the joint solve sees the same a(t): a sample ends at a0
        joint = flow.sample(3, joint=True)
    back = {"torchdyn": 1.9e-7, "torchdiffeq": 3.5e-14, "torchode": 8e-14, "native": 5e-15}[backend]
    torch.testing.assert_close(joint[:, 2:], a0.expand(3, p), rtol=0, atol=back)
