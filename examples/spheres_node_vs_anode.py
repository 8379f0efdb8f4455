"""NODE against ANODE on concentric spheres, with the NFE of every training step.

A ball labelled -1 inside an annulus labelled +1 (the paper's Section 4): a Neural ODE
(p = 0) can only separate them by squeezing the annulus through gaps, and the flow it
learns gets harder to solve; one augmented dimension (p = 1) lifts the ball out of the
plane. The loop is plain PyTorch: NFE figures are data on the model (`model.nfe`),
read after each step and reset before the next.

Run it:

    python examples/spheres_node_vs_anode.py          # 2000 points, 20 epochs
    python examples/spheres_node_vs_anode.py --fast   # a few seconds (CI)

Writes `history.csv` and `nfe.png` into `--out` (default: ./example-output/spheres).
"""

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no window
import matplotlib.pyplot as plt
import torch
from torch import nn

from anode_plugin import AugmentedNeuralODE, MLPVectorField
from anode_plugin.datasets import concentric_spheres

parser = argparse.ArgumentParser(description="NODE vs ANODE on concentric spheres.")
parser.add_argument("--fast", action="store_true", help="a few seconds: few points, 1 epoch")
parser.add_argument("--out", type=Path, default=Path("example-output/spheres"))
args = parser.parse_args()
args.out.mkdir(parents=True, exist_ok=True)

size, epochs = (64, 1) if args.fast else (500, 20)
x, y = concentric_spheres(dim=2, num_inner=size, num_outer=3 * size, seed=0)

history = []
for name, p in [("NODE", 0), ("ANODE", 1)]:
    torch.manual_seed(0)
    ode = AugmentedNeuralODE(MLPVectorField(2 + p, 32), augment_dims=p, atol=1e-3, rtol=1e-3)
    readout = nn.Linear(2 + p, 1)
    optimiser = torch.optim.Adam([*ode.parameters(), *readout.parameters()], lr=1e-3)
    batches = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y),
        batch_size=64,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )
    step = 0
    for epoch in range(epochs):
        for xb, yb in batches:
            ode.reset_nfe()
            loss = nn.functional.smooth_l1_loss(readout(ode.features(xb)), yb)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            step += 1
            nfe = ode.nfe  # NFERecord(forward=..., backward=...) of this step
            row = {"model": name, "step": step, "epoch": epoch, "loss": loss.item()}
            history.append({**row, "nfe_forward": nfe.forward, "nfe_backward": nfe.backward})
    print(f"{name}: final loss {history[-1]['loss']:.4f}, last forward NFE {nfe.forward}")

with open(args.out / "history.csv", "w", newline="") as handle:
    writer = csv.DictWriter(handle, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)

fig, (ax_loss, ax_nfe) = plt.subplots(1, 2, figsize=(9, 3.5))
for name in ("NODE", "ANODE"):
    rows = [r for r in history if r["model"] == name]
    steps = [r["step"] for r in rows]
    ax_loss.plot(steps, [r["loss"] for r in rows], label=name)
    ax_nfe.plot(steps, [r["nfe_forward"] for r in rows], label=name)
ax_loss.set(xlabel="training step", ylabel="SmoothL1 loss", yscale="log")
ax_nfe.set(xlabel="training step", ylabel="forward NFE")
ax_nfe.legend()
fig.tight_layout()
fig.savefig(args.out / "nfe.png", dpi=100)
print(f"wrote {args.out}")
