"""Data-parallel training (DDP) of an ANODE: two CPU processes here, every GPU elsewhere.

Nothing in the model changes for DDP: Lightning's `strategy="ddp"` starts one process
per device, each on its own shard of the data (`ConcentricSpheresDataModule` shards
with a seeded `DistributedSampler`). `NFECallback` averages its figures over the
processes and `NFEBudget` takes the same decision on every one. Lightning starts the
other processes by running this script again, so everything above `trainer.fit` runs
once per process, and only rank zero writes files.

Run it:

    python examples/ddp.py --fast   # 2 CPU processes (gloo), 2 epochs: a few seconds (CI)
    python examples/ddp.py          # every GPU if there are any, else 2 CPU processes

Writes `nfe.csv`, `summary.json` and a checkpoint into `--out`
(default: ./example-output/ddp).
"""

import argparse
import json
from pathlib import Path

import lightning.pytorch as pl
import torch

from anode_plugin import AugmentedNeuralODE, MLPVectorField
from anode_plugin.datasets import ConcentricSpheresDataModule
from anode_plugin.lightning import ANODEModule, NFEBudget, NFECallback


def main() -> None:
    parser = argparse.ArgumentParser(description="DDP training of an ANODE.")
    parser.add_argument("--fast", action="store_true", help="2 CPU processes, 2 epochs")
    parser.add_argument("--out", type=Path, default=Path("example-output/ddp"))
    args = parser.parse_args()
    gpus = torch.cuda.is_available() and not args.fast

    pl.seed_everything(0, verbose=False)  # the same initial weights in every process
    ode = AugmentedNeuralODE(MLPVectorField(2 + 1, 32), augment_dims=1)
    # feature_dim sizes the readout now, before DDP wraps the model.
    model = ANODEModule(ode, num_outputs=2, feature_dim=2 + 1, lr=1e-3)
    n = 256 if args.fast else 4096
    data = ConcentricSpheresDataModule(
        num_inner=n // 2, num_outer=n // 2, num_val=64, labels="classes", batch_size=32
    )
    nfe = NFECallback()
    trainer = pl.Trainer(
        strategy="ddp",  # gloo on CPUs, NCCL on GPUs
        accelerator="gpu" if gpus else "cpu",
        devices=-1 if gpus else 2,
        max_epochs=2 if args.fast else 20,
        default_root_dir=args.out,
        logger=False,
        callbacks=[nfe, NFEBudget(max_forward=200)],
        enable_progress_bar=not args.fast,
        enable_model_summary=False,
    )
    trainer.fit(model, data)

    if trainer.is_global_zero:  # one process writes; the figures are already averaged
        nfe.history.to_csv(args.out / "nfe.csv")
        summary = {
            "processes": trainer.world_size,
            "accelerator": "gpu" if gpus else "cpu",
            "steps": trainer.global_step,  # per process: each saw 1/world_size of the data
            "final_loss": nfe.history[-1].loss,
            "final_forward_nfe": nfe.history[-1].nfe_forward,
        }
        (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
        print(summary)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
