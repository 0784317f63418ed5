#!/usr/bin/env bash
# The GPU check of issue #9, for a machine with a GPU and no network (the lent `device` machine: an NVIDIA
# H200 with PyTorch and CUDA). It installs what bench/gpu/prepare.sh put in .gpu/, then, each step under
# its own time limit so the whole fits in 8 minutes:
#   1. the WebGPU tests (tests/webgpu_test.ts) on the hardware adapter
#   2. `deno task bench --backends webgpu`: fused rows for 1 to 16,384 replicas, labelled with the adapter
#   3. echo3 with $ECHO3_SEEDS seeds (default 4,096) end to end on --backend webgpu, timed
#   4. bench/gpu/torch_replicas.py: the notebook's PyTorch step on the same GPU for 1 to 16,384 replicas
#   5. the full default exp:capacity grid (960 points x 10 seeds) on webgpu, for as long as its limit allows
# and writes what it measured to $OUT (default results/gpu/): gpu-check.csv (one row per step with its
# exit status, 124 where it ran out of time, and seconds), gpu-check.log (every step's output), bench-*.csv,
# torch-replicas.csv, echo3-*-seeds.csv and capacity.csv (the grid points finished): six files, within what
# the device tool brings back (8).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-results/gpu}
ECHO3_SEEDS=${ECHO3_SEEDS:-4096}
mkdir -p "$OUT"

if ! ldconfig -p | grep -q 'libvulkan.so.1'; then
  for f in .gpu/debs/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$icd" ]; then export VK_DRIVER_FILES="$icd" VK_ICD_FILENAMES="$icd"; fi
if ! command -v deno >/dev/null; then
  mkdir -p /tmp/gpu-bin
  xz -dc .gpu/deno.xz >/tmp/gpu-bin/deno
  chmod +x /tmp/gpu-bin/deno
  export PATH=/tmp/gpu-bin:$PATH
fi
[ -d node_modules ] || tar -xJf .gpu/node_modules.tar.xz
export NO_COLOR=1 DENO_NO_UPDATE_CHECK=1

echo "step,status,seconds,detail" >"$OUT/gpu-check.csv"
: >"$OUT/gpu-check.log"
# step NAME LIMIT_S CMD...: runs CMD with a time limit, appends its output to gpu-check.log and a row
# (exit status, 124 for out of time; seconds; its last line) to gpu-check.csv.
step() {
  local name=$1 limit=$2
  shift 2
  echo "== $name" | tee -a "$OUT/gpu-check.log"
  local t0 status ms last
  t0=$(date +%s%N)
  timeout "$limit" "$@" >/tmp/gpu-step.log 2>&1
  status=$?
  ms=$((($(date +%s%N) - t0) / 1000000))
  tee -a "$OUT/gpu-check.log" </tmp/gpu-step.log | tail -n 25
  last=$(grep -v '^[[:space:]]*$' /tmp/gpu-step.log | tail -n 1 | tr -d '"' | cut -c1-200)
  echo "$name,$status,$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000))),\"$last\"" >>"$OUT/gpu-check.csv"
}

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
step adapter 20 deno eval 'import { findWebGpuAdapter } from "./lib/backend.ts";
  console.log(JSON.stringify(await findWebGpuAdapter()));'
step webgpu-tests 100 deno test -P tests/webgpu_test.ts
step bench 100 deno run --allow-read --allow-write=results --allow-run=/usr/bin/python3,deno bench/bench.ts \
  --backends webgpu
cp "$(ls -t results/bench-*.csv | head -n 1)" "$OUT/" 2>/dev/null
step "echo3-$ECHO3_SEEDS-seeds" 60 deno run --allow-read --allow-write=/tmp experiments/echo3.ts \
  --seeds "$ECHO3_SEEDS" --backend webgpu --out /tmp/gpu-echo3
cp /tmp/gpu-echo3/*.csv "$OUT/echo3-$ECHO3_SEEDS-seeds.csv" 2>/dev/null
if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  step torch-replicas 90 python3 bench/gpu/torch_replicas.py --device cuda
else
  step torch-replicas 60 python3 bench/gpu/torch_replicas.py --device cpu --budget 0.3 --max-replicas 16
fi
grep -E '^(impl,|notebook nn.RNN,|batched bmm,)' /tmp/gpu-step.log >"$OUT/torch-replicas.csv"
step capacity-grid 90 deno run --allow-read --allow-write=/tmp experiments/capacity.ts --backend webgpu \
  --out /tmp/gpu-capacity
cp /tmp/gpu-capacity/*.csv "$OUT/capacity.csv" 2>/dev/null
cat "$OUT/gpu-check.csv"
