"""Swap anode-plugin's `Augmenter` into a plain torchdyn pipeline.

A torchdyn model built as `Augmenter -> NeuralODE -> readout` keeps working when the
import changes from `torchdyn.nn` to `anode_plugin`: same arguments, same output.
This script checks that on a batch, trains the model on concentric spheres (a ball
inside an annulus, Section 4 of the paper) with a plain PyTorch loop, and uses
`strip()` to look at the flow's output in the original coordinates.

Run it:

    python examples/augmenter_in_torchdyn.py            # 2000 points, 300 steps
    python examples/augmenter_in_torchdyn.py --fast     # a few seconds (what CI runs)

Writes `losses.csv` and `features.png` into `--out` (default: ./example-output/augmenter).
"""

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no window
import matplotlib.pyplot as plt
import torch
from torch import nn
from torchdyn.core import NeuralODE
from torchdyn.nn import Augmenter as TorchdynAugmenter

from anode_plugin import Augmenter, MLPVectorField
from anode_plugin.datasets import concentric_spheres

parser = argparse.ArgumentParser(description="Augmenter in a torchdyn pipeline.")
parser.add_argument("--fast", action="store_true", help="a few seconds: tiny data, few steps")
parser.add_argument("--out", type=Path, default=Path("example-output/augmenter"))
args = parser.parse_args()
args.out.mkdir(parents=True, exist_ok=True)
torch.manual_seed(0)

# 1. Same output as torchdyn's Augmenter, for the same arguments.
x = torch.randn(8, 2)
ours, theirs = Augmenter(augment_idx=1, augment_dims=3), TorchdynAugmenter(1, 3)
assert torch.equal(ours(x), theirs(x)), "Augmenter must match torchdyn's"
assert torch.equal(ours.strip(ours(x)), x)  # and strip() undoes it

# 2. The usual torchdyn pipeline: 2-D points, augmented to 2 + 1 dimensions.
p = 1
augmenter = Augmenter(augment_idx=1, augment_dims=p)  # was: torchdyn.nn.Augmenter
ode = NeuralODE(MLPVectorField(2 + p, 32), solver="dopri5", atol=1e-3, rtol=1e-3)
readout = nn.Linear(2 + p, 1)

size = 64 if args.fast else 500  # points in the ball; three times as many in the annulus
x, y = concentric_spheres(dim=2, num_inner=size, num_outer=3 * size, seed=0)
steps = 10 if args.fast else 300
params = [*ode.parameters(), *readout.parameters()]
optimiser = torch.optim.Adam(params, lr=1e-2)

rows = []
for step in range(steps):
    _, sol = ode(augmenter(x))  # sol: [len(t_span), batch, 2 + p]
    loss = nn.functional.smooth_l1_loss(readout(sol[-1]), y)
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
    rows.append({"step": step, "loss": loss.item()})

with open(args.out / "losses.csv", "w", newline="") as handle:
    writer = csv.DictWriter(handle, fieldnames=["step", "loss"])
    writer.writeheader()
    writer.writerows(rows)

# 3. The features the readout sees, and the same points with the augmented part stripped.
with torch.no_grad():
    features = ode(augmenter(x))[1][-1]  # [batch, 2 + p]
    stripped = augmenter.strip(features)  # [batch, 2]: the flow's output in x's coordinates
fig, axes = plt.subplots(1, 2, figsize=(8, 4))
colours = y[:, 0].numpy()
axes[0].scatter(stripped[:, 0], stripped[:, 1], c=colours, s=6, cmap="coolwarm")
axes[0].set_title("features, augmented dimension stripped")
# order="first" (torchdyn's default) puts the augmented dimension in front.
axes[1].scatter(stripped[:, 0], features[:, 0], c=colours, s=6, cmap="coolwarm")
axes[1].set_title("x1 against the augmented coordinate")
fig.tight_layout()
fig.savefig(args.out / "features.png", dpi=100)
print(f"final loss {rows[-1]['loss']:.4f} after {steps} steps; wrote {args.out}")
