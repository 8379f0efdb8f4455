"""Write your own vector field and check it has the properties of an ODE flow.

`AugmentedNeuralODE` accepts any module written `f(x)`, `f(t, x)` or `f(t, x, args)`.
The flow it defines must be invertible, its trajectories must never cross, and the
NFE counts must be exact; `anode_plugin.testing` checks all three on inputs you give
(here, several random batches). The same field integrated with one large Euler step is
a ResNet block, not a flow: the invertibility check catches it.

Run it:

    python examples/custom_vector_field.py          # 20 random batches
    python examples/custom_vector_field.py --fast   # 3 batches, a few seconds (CI)

Writes `checks.txt` and `trajectories_1d.png` into `--out`
(default: ./example-output/custom-field).
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no window
import matplotlib.pyplot as plt
import torch
from torch import nn

from anode_plugin import AugmentedNeuralODE
from anode_plugin.testing import assert_flow_properties, assert_invertible

parser = argparse.ArgumentParser(description="A custom vector field, property-checked.")
parser.add_argument("--fast", action="store_true", help="a few seconds: 3 random batches")
parser.add_argument("--out", type=Path, default=Path("example-output/custom-field"))
args = parser.parse_args()
args.out.mkdir(parents=True, exist_ok=True)


class GatedField(nn.Module):
    """dx/dt = sigmoid(G [x, t]) * tanh(W x): a time-dependent, gated field."""

    def __init__(self, dim: int, scale: float = 1.0):
        super().__init__()
        self.gate = nn.Linear(dim + 1, dim)
        self.mix = nn.Linear(dim, dim)
        self.scale = scale

    def forward(self, t, x):  # t: scalar tensor, x: [batch, dim] -> [batch, dim]
        tx = torch.cat([x, t.expand(x.shape[0], 1)], dim=1)
        return self.scale * torch.sigmoid(self.gate(tx)) * torch.tanh(self.mix(x))


report = []
batches = 3 if args.fast else 20
for seed in range(batches):
    torch.manual_seed(seed)
    # float64 and tight tolerances: the inverse then matches to ~1e-8.
    model = AugmentedNeuralODE(GatedField(2 + 1), augment_dims=1, atol=1e-9, rtol=1e-9).double()
    x = 2 * torch.rand(16, 2, dtype=torch.float64) - 1
    assert_flow_properties(model, x)  # invertible, non-crossing, exact NFE, augmentation
    model.reset_nfe()  # the checks leave the count as they found it
    model.features(x)
    report.append(f"seed {seed}: flow properties hold; one solve takes {model.nfe.forward} NFE")

# One Euler step over [0, 1] is x + f(0, x): a residual block. Strong enough, it is not
# invertible by integrating backwards, and the check says where it fails.
torch.manual_seed(0)
resnet_like = AugmentedNeuralODE(
    GatedField(2 + 1, scale=4.0), augment_dims=1, solver="euler"
).double()
try:
    assert_invertible(resnet_like, torch.rand(16, 2, dtype=torch.float64), atol=1e-6)
    report.append("one Euler step: invertible (unexpected)")
except AssertionError as error:
    report.append(f"one Euler step: not a flow, as expected:\n  {str(error).splitlines()[0]}")

(args.out / "checks.txt").write_text("\n".join(report) + "\n")
print("\n".join(report))

# In 1-D (p = 0) trajectories keep their order: the paper's Proposition 1, visible.
torch.manual_seed(0)
model = AugmentedNeuralODE(GatedField(1, scale=3.0), augment_dims=0, atol=1e-6, rtol=1e-6)
times = torch.linspace(0, 1, 50)
with torch.no_grad():
    paths = model.trajectory(torch.linspace(-2, 2, 25).unsqueeze(1), times)  # [50, 25, 1]
fig, ax = plt.subplots(figsize=(5, 4))
ax.plot(times, paths[:, :, 0], color="tab:blue", lw=1)
ax.set(xlabel="t", ylabel="x(t)", title="1-D trajectories never cross")
fig.tight_layout()
fig.savefig(args.out / "trajectories_1d.png", dpi=100)
print(f"wrote {args.out}")
