"""A parameter-matched NODE/ANODE pair on images (the paper's Table 1, one data set).

The ANODE is the paper's conv block with p = 5 zero channels; the NODE gets the
number of filters that gives it the same parameter count (`match_num_filters`).
Both are trained with Adam and tested; the script reports test accuracy, mean
forward NFE per training step and training time, as in Table 1.

On a GPU (picked automatically) it trains on MNIST, downloaded into `--data_dir`:

    python examples/image_benchmark.py --quick            # MNIST, 1 epoch per model
    python examples/image_benchmark.py                    # MNIST, 10 epochs per model

On a CPU it uses scikit-learn's bundled 8x8 digits (no download):

    python examples/image_benchmark.py --fast             # a few seconds (CI)

Writes `results.csv` and `nfe.png` into `--out` (default: ./example-output/images).
For every data set and several seeds, use `anode-images` (docs/guides/images.md).
"""

import argparse
import csv
import time
from pathlib import Path

import lightning.pytorch as pl
import matplotlib
import torch

matplotlib.use("Agg")  # files only, no window
import matplotlib.pyplot as plt

from anode_plugin.datasets import DigitsDataModule, MNISTDataModule
from anode_plugin.experiments import conv_ode, count_image_parameters, match_num_filters
from anode_plugin.lightning import ANODEModule, NFECallback

parser = argparse.ArgumentParser(description="NODE vs ANODE on images, parameter-matched.")
parser.add_argument("--fast", action="store_true", help="CPU, digits, a few steps (CI)")
parser.add_argument("--quick", action="store_true", help="one epoch per model")
parser.add_argument("--dataset", choices=["mnist", "digits"], default=None,
                    help="default: mnist on a GPU, digits on a CPU")  # fmt: skip
parser.add_argument("--data_dir", type=Path, default=Path("data"))
parser.add_argument("--out", type=Path, default=Path("example-output/images"))
args = parser.parse_args()
args.out.mkdir(parents=True, exist_ok=True)

cuda = torch.cuda.is_available() and not args.fast
dataset = args.dataset or ("mnist" if cuda else "digits")
if cuda:
    torch.set_float32_matmul_precision("high")  # TF32 on recent GPUs
if dataset == "mnist":
    dm = MNISTDataModule(data_dir=args.data_dir, download=True, batch_size=256)
    anode_filters = 64  # the paper's MNIST ANODE
else:
    subset = 64 if args.fast else None  # of the 1,437 training and 360 test digits
    dm = DigitsDataModule(
        batch_size=32 if args.fast else 64, train_subset=subset, test_subset=subset
    )
    anode_filters = 23
epochs = 1 if args.quick or args.fast else 10
c, h, w = dm.image_shape
shape = {"in_channels": c, "height": h, "width": w, "num_classes": dm.num_classes}
budget = count_image_parameters(anode_filters, augment_dims=5, **shape)
pair = {  # name: (filters, p); the NODE gets the ANODE's parameter count
    "ANODE": (anode_filters, 5),
    "NODE": (match_num_filters(budget, augment_dims=0, **shape), 0),
}

rows, fig = [], plt.figure(figsize=(5, 3.5))
for name, (filters, p) in pair.items():
    pl.seed_everything(0, verbose=False)
    ode = conv_ode(c, filters, augment_dims=p)  # dopri5, tol 1e-3, adjoint
    model = ANODEModule(ode, num_outputs=dm.num_classes, feature_dim=(c + p) * h * w)
    nfe = NFECallback(prog_bar=False)
    trainer = pl.Trainer(
        accelerator="gpu" if cuda else "cpu",
        devices=1,
        max_epochs=epochs,
        max_steps=2 if args.fast else -1,
        callbacks=[nfe],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=not args.fast,
        enable_model_summary=False,
    )
    start = time.perf_counter()
    trainer.fit(model, datamodule=dm)
    seconds = time.perf_counter() - start
    test = trainer.test(model, datamodule=dm, verbose=False)[0]
    steps = list(nfe.history)
    rows.append({
        "model": name, "filters": filters, "augment_dims": p,
        "parameters": sum(q.numel() for q in model.parameters()),
        "test_acc": round(float(test["test/acc"]), 4),
        "mean_forward_nfe": round(sum(s.nfe_forward for s in steps) / len(steps), 1),
        "train_seconds": round(seconds, 1),
    })  # fmt: skip
    plt.plot([s.global_step for s in steps], [s.nfe_forward for s in steps], label=name)
    print(rows[-1])

with open(args.out / "results.csv", "w", newline="") as handle:
    writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
plt.gca().set(
    xlabel="training step", ylabel="forward NFE", title=f"{dataset}, {trainer.accelerator}"
)
plt.legend()
fig.tight_layout()
fig.savefig(args.out / "nfe.png", dpi=100)
print(f"wrote {args.out}")
