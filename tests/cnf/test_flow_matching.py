"""Flow matching: the loss's value and time scale, what each augmentation regresses, a fit."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
from torch import Tensor, nn

from anode_plugin import AugmentedCNF, MLPVectorField
from anode_plugin._cnf import conditional_path
from anode_plugin.datasets import density_samples


class Affine(nn.Module):
    """``f(t, z) = c + W z``; records the times and states it is called with."""

    def __init__(self, c: Tensor, weight: Tensor | None = None) -> None:
        super().__init__()
        self.c = nn.Parameter(c.clone())
        self.weight = None if weight is None else nn.Parameter(weight.clone())
        self.calls: list[tuple[Tensor, Tensor]] = []

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        self.calls.append((t.detach().clone(), z.detach().clone()))
        out = self.c.expand(z.shape[0], -1)
        return out if self.weight is None else out + z @ self.weight.T


def test_the_loss_is_the_regression_on_the_conditional_velocity_in_t_units():
    # Over t_span (1, 3) the path's velocity d z/ds = eps - x is 2 dz/dt: a constant
    # field c gives E||2c - (eps - x)||^2 = ||2c + x||^2 + d, whatever s.
    c = torch.tensor([0.3, -0.5], dtype=torch.float64)
    field = Affine(c)
    flow = AugmentedCNF(field, 2, 0, t_span=(1.0, 3.0)).double()
    x = torch.tensor([[0.4, 1.0]], dtype=torch.float64).expand(20_000, 2)
    torch.manual_seed(0)
    loss = flow.flow_matching_loss(x)
    expected = float((2 * c + x[0]).pow(2).sum()) + 2
    # The loss is a mean of 20,000 draws of ||a - eps||^2 (variance 2d + 4||a||^2).
    spread = 5 * math.sqrt(2 * 2 + 4 * (expected - 2)) / math.sqrt(20_000)
    assert abs(float(loss.detach()) - expected) < spread
    times = field.calls[-1][0]
    assert times.shape == (20_000,) and float(times.min()) >= 1.0 and float(times.max()) <= 3.0
    assert abs(float(times.mean()) - 2.0) < 5 * (2 / math.sqrt(12)) / math.sqrt(20_000)


def test_no_solve_is_run_for_a_plain_or_variational_flow():
    for p in (0, 2):
        flow = AugmentedCNF(MLPVectorField(2 + p, 8, activation="tanh"), 2, p)
        flow.flow_matching_loss(torch.randn(16, 2)).backward()
        assert flow.nfe.forward == 0 and flow.nfe.backward == 0


def test_the_variational_flow_regresses_the_joint_state_and_leaves_q_alone():
    field = Affine(torch.zeros(4))
    flow = AugmentedCNF(field, 2, 2, q="learned")
    x = torch.randn(32, 2)
    flow.flow_matching_loss(x).backward()
    _, z = field.calls[-1]
    assert z.shape == (32, 4)
    assert all(p.grad is None for p in flow.q.parameters())  # e is held fixed
    assert field.c.grad is not None and field.c.grad.shape == (4,)


def test_the_exact_flow_sees_its_augmented_path_beside_the_data():
    field = Affine(torch.zeros(2), torch.ones(2, 4))
    flow = AugmentedCNF(field, 2, 2, augmentation="exact", t_span=(0.0, 2.0)).double()
    torch.manual_seed(0)
    loss = flow.flow_matching_loss(torch.randn(64, 2, dtype=torch.float64))
    times, z = field.calls[-1]
    assert z.shape == (64, 4)
    expected = flow.augmented_path(times / 2.0)  # s = (t - t0) / (t1 - t0)
    torch.testing.assert_close(z[:, 2:], expected.detach(), rtol=0, atol=0)
    loss.backward()  # the path is learned: a0 and g get gradients through it
    assert flow.exact.a0.grad is not None and bool(flow.exact.a0.grad.abs().sum() > 0)


def test_the_ot_coupling_pairs_closer_points_than_independent_pairs():
    # Minibatch OT (POT through torchcfm) lowers the mean squared distance of the pairs.
    x = density_samples("two_moons", 256, seed=0).double()
    noise = torch.randn(256, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    _, _, independent = conditional_path(x, noise, sigma=0.0, coupling="independent")
    _, _, ot = conditional_path(x, noise, sigma=0.0, coupling="ot")
    assert float(ot.pow(2).sum(1).mean()) < 0.7 * float(independent.pow(2).sum(1).mean())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"coupling": "sinkhorn"}, r"`coupling` must be one of \['independent', 'ot'\]"),
        ({"sigma": -0.1}, r"`sigma` must be a non-negative float, got -0.1"),
    ],
)
def test_bad_flow_matching_options_are_refused(kwargs, match):
    flow = AugmentedCNF(MLPVectorField(2, 8), 2, 0)
    with pytest.raises(ValueError, match=match):
        flow.flow_matching_loss(torch.randn(4, 2), **kwargs)


def test_an_empty_batch_or_another_size_is_refused():
    flow = AugmentedCNF(MLPVectorField(2, 8), 2, 0)
    with pytest.raises(
        ValueError, match=r"^`x` must hold at least one sample, got an empty batch\.$"
    ):
        flow.flow_matching_loss(torch.zeros(0, 2))
    with pytest.raises(ValueError, match=r"^`x` must have shape \[batch, 2\], got \(4, 3\)\.$"):
        flow.flow_matching_loss(torch.randn(4, 3))


def test_the_time_scale_is_the_whole_span_and_sigma_defaults_to_the_ot_path():
    # The velocity is regressed in t's units over t_span[-1] - t_span[0], whatever lies
    # between: a field twice as fast over half the span gives the same loss, exactly
    # (the same draws: a constant field c over (0, 2) predicts 2c, as 2c over (0, 1)).
    c = torch.tensor([0.3, -0.5], dtype=torch.float64)
    x = torch.randn(64, 2, dtype=torch.float64)

    def loss(field: nn.Module, t_span: tuple[float, ...], **options) -> Tensor:
        flow = AugmentedCNF(field, 2, 0, t_span=t_span).double()
        torch.manual_seed(1)
        return flow.flow_matching_loss(x, **options).detach()

    two = loss(Affine(c), (0.0, 2.0))
    assert torch.equal(loss(Affine(c), (0.0, 1.0, 2.0)), two)
    assert torch.equal(loss(Affine(2 * c), (0.0, 1.0)), two)
    assert not torch.equal(loss(Affine(c), (0.0, 1.0)), two)
    # sigma moves the points off the path (not the conditional velocity): seen by a
    # field that depends on the state.
    w = 0.5 * torch.eye(2, dtype=torch.float64)
    ot_path = loss(Affine(c, w), (0.0, 2.0))
    assert torch.equal(loss(Affine(c, w), (0.0, 2.0), sigma=0.0), ot_path)
    assert not torch.equal(loss(Affine(c, w), (0.0, 2.0), sigma=0.5), ot_path)


def _held_out_nll(flow: AugmentedCNF, x: Tensor) -> float:
    with torch.no_grad():
        return float(-flow.log_prob(x).mean())


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_flow_matching_lowers_the_held_out_nll_on_two_moons(seed):
    # 1,000 regression steps (no solve) on a plain CNF; the held-out NLL, exact, falls
    # from the untrained flow's. Measured over seeds 0-4: 3.62-4.15 nats before,
    # 2.83-2.93 after, a fall of 0.77-1.32 nats: the margin is 0.5.
    train = density_samples("two_moons", 4000, seed=seed)
    test = density_samples("two_moons", 500, seed=seed + 10_000)
    torch.manual_seed(seed)
    flow = AugmentedCNF(MLPVectorField(2, 32, activation="tanh"), 2, 0, atol=1e-4, rtol=1e-4)
    before = _held_out_nll(flow, test)
    optimiser = torch.optim.Adam(flow.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed + 1)
    for _ in range(1000):
        loss = flow.flow_matching_loss(train[torch.randint(0, 4000, (256,), generator=g)])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    after = _held_out_nll(flow, test)
    assert after < before - 0.5


def test_without_torchcfm_flow_matching_names_the_extra_that_installs_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchcfm", None)  # what a plain install has
    flow = AugmentedCNF(MLPVectorField(2), 2, 0)
    with pytest.raises(
        ImportError,
        match=r"Flow matching needs torchcfm, which the package installs only on request: "
        r"pip install 'anode-plugin\[flow-matching\]' \(it brings POT, pandas and absl-py\)\.",
    ):
        flow.flow_matching_loss(torch.randn(4, 2))
    flow.log_prob(torch.randn(4, 2))  # the rest of the flow needs none of it


def test_the_package_imports_without_the_flow_matching_extra():
    # A plain `pip install .` has neither torchcfm nor what it brings (POT, pandas,
    # absl-py): every layer of the package imports without them.
    code = (
        "import sys\n"
        "for name in ('torchcfm', 'ot', 'pandas', 'absl'):\n"
        "    sys.modules[name] = None\n"
        "import anode_plugin, anode_plugin.lightning, anode_plugin.experiments\n"
        "import anode_plugin.experiments.images, anode_plugin.datasets, anode_plugin.testing\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
