#!/usr/bin/env bash
# GPU check of anode-plugin in one command, under 10 minutes on one GPU (an estimate:
# not yet run on a GPU). Installs nothing: the package must be installed.
#
#   bash benchmarks/gpu.sh [OUT_DIR]          # default OUT_DIR: runs/gpu
#
# 1. prints the GPU (nvidia-smi);
# 2. times STEPS (20) training steps, batch 256, forward + adjoint backward + Adam, of the
#    paper's MNIST pair (NODE 92 filters, ANODE 64 filters p=5) on three backends and in
#    both memory layouts: OUT_DIR/gpu_steps.{json,md} (benchmarks/gpu_steps.py); then the
#    native backend eager against its compiled step with CUDA graphs
#    (OUT_DIR/compiled/gpu_steps.md); real
#    MNIST images when $MNIST_ROOT/MNIST/raw exists (default ../shared/data), synthetic
#    ones otherwise;
# 3. the per_sample section (benchmarks/run.py, quick profile): torchdyn, torchode joint
#    and torchode per-sample stepping side by side on the GPU: OUT_DIR/per_sample/latest.md;
# 4. with MNIST present, the --quick MNIST table (one epoch per model, seeds $SEEDS,
#    default [0]; the reconstruction check on 256 test images included):
#    OUT_DIR/images/mnist/{table.md,runs.json,figures.png}, capped at QUICK_TIMEOUT
#    seconds (default 420).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:-runs/gpu}
MNIST_ROOT=${MNIST_ROOT:-../shared/data}
STEPS=${STEPS:-20}
SEEDS=${SEEDS:-[0]}
QUICK_TIMEOUT=${QUICK_TIMEOUT:-420}
PYTHON=${PYTHON:-python}
mkdir -p "$OUT_DIR"

echo "== GPU"
nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv \
    || echo "nvidia-smi not found: no NVIDIA GPU visible"

echo "== Training steps of the MNIST pair (batch 256, $STEPS steps)"
"$PYTHON" benchmarks/gpu_steps.py --out_dir "$OUT_DIR" --mnist_root "$MNIST_ROOT" \
    --steps "$STEPS" --batch 256
cat "$OUT_DIR/gpu_steps.md"

echo "== The native backend's compiled step (CUDA graphs), same pair and batch"
"$PYTHON" benchmarks/gpu_steps.py --out_dir "$OUT_DIR/compiled" --mnist_root "$MNIST_ROOT" \
    --steps "$STEPS" --batch 256 --backends '[native, native-compiled]' \
    --layouts '[contiguous]' || echo "the compiled native step failed"
[ -f "$OUT_DIR/compiled/gpu_steps.md" ] && cat "$OUT_DIR/compiled/gpu_steps.md"

echo "== Per-sample against joint stepping (benchmarks/run.py --sections [per_sample])"
"$PYTHON" benchmarks/run.py --profile quick --sections '[per_sample]' \
    --output_dir "$OUT_DIR/per_sample" || echo "the per_sample section failed"

if [ -d "$MNIST_ROOT/MNIST/raw" ]; then
    echo "== anode-images --dataset mnist --quick true (seeds $SEEDS)"
    timeout "$QUICK_TIMEOUT" "$PYTHON" -m anode_plugin.experiments.images --dataset mnist \
        --data_dir "$MNIST_ROOT" --quick true --seeds "$SEEDS" --num_workers 4 \
        --out_dir "$OUT_DIR/images" | tee "$OUT_DIR/images.log" \
        || echo "the quick MNIST table stopped (timeout ${QUICK_TIMEOUT} s or error)"
else
    echo "== No MNIST at $MNIST_ROOT/MNIST/raw: the --quick MNIST table is skipped"
fi
echo "Results in $OUT_DIR"
