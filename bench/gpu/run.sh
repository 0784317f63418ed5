#!/usr/bin/env bash
# Dry run on llvmpipe (no GPU: every step with small counts, output under /tmp/gpu-dry), from the repository root:
#   ANY_ADAPTER=1 SMALL=1 ECHO3_SEEDS=8 OUT=/tmp/gpu-dry bash bench/gpu/run.sh
#
# The GPU check of issues #9 and #17, for a machine with a GPU and no network (the lent `device` machine: an
# NVIDIA H200 with PyTorch and CUDA). It sets up what bench/gpu/prepare.sh put in .gpu/ (Deno, compressed; the
# Vulkan loader and the EGL/GLX vendor libraries NVIDIA's Vulkan driver loads, each only where the system has none,
# unpacked into / and found through ldconfig: LD_LIBRARY_PATH breaks Deno's own subprocesses), then, each step
# under its own time limit so the whole fits in 8 minutes (20 + 90 + 120 + 60 + 90 + 60 s and the set-up):
#   1. finds the WebGPU adapter; the WebGPU steps run only on a hardware one
#   2. the WebGPU tests (tests/kernels/webgpu_{test,bits_test,step_test,epoch_test}.ts: the data, the fused step
#      and the epoch on the device against their references)
#   3. `deno task bench --backends webgpu`: fused rows for 1 to 16,384 replicas, labelled with the adapter, each
#      with the WebGPU epoch's dispatches and host ms per step and its tiles (PyTorch on the CPU at 64 replicas only)
#   4. echo3 with $ECHO3_SEEDS seeds (default 4,096: 5 epochs of 1,000 steps, the test pass and the check; at
#      about 1 ms a step on the GPU and the host's data for the test pass, well inside its 60 s) end to end on
#      --backend webgpu, timed
#   5. bench/gpu/torch_replicas.py: PyTorch's notebook step and its batched replicas (bmm) on the same GPU in the
#      same run, for 1 to 16,384 replicas
#   6. the full default exp:capacity grid (960 points x 10 seeds) on webgpu, for as long as its limit allows
# and writes what it measured to $OUT (default results/gpu/): gpu-check.csv (one row per step with its
# exit status, 124 where it ran out of time, and seconds), gpu-check.log (every step's output), bench-*.csv,
# torch-replicas.csv, echo3-*-seeds.csv and capacity.csv (the grid points finished): six files, within what
# the device tool brings back (8).
# SMALL=1 shrinks every step to seconds (bench 100 ms a row at 1 replica for PyTorch, PyTorch up to 16 replicas,
# capacity a 2-point grid): for the dry run above.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-results/gpu}
ECHO3_SEEDS=${ECHO3_SEEDS:-4096}
if [ -n "${SMALL:-}" ]; then
  BENCH_ARGS=(--budget-ms 100 --replicas 1)
  TORCH_ARGS=(--budget 0.1 --max-replicas 16)
  CAPACITY_ARGS=(--cells rnn --hiddens 4 --echo-max 2 --seeds 2 --epochs 1 --series 200 --bptt 20)
else
  BENCH_ARGS=(--budget-ms 1000 --replicas 64)
  TORCH_ARGS=()
  CAPACITY_ARGS=()
fi
# ANY_ADAPTER=1 runs the WebGPU steps on a software adapter too: to try this script where there is no GPU.
hardware='"software":false'
[ -n "${ANY_ADAPTER:-}" ] && hardware='"software":'
mkdir -p "$OUT"
echo "step,status,seconds,detail" >"$OUT/gpu-check.csv"
: >"$OUT/gpu-check.log"
log() { echo "$*" | tee -a "$OUT/gpu-check.log"; }

# step NAME LIMIT_S CMD...: runs CMD with a time limit, appends its output to gpu-check.log and a row
# (exit status, 124 for out of time; seconds; its last line) to gpu-check.csv.
step() {
  local name=$1 limit=$2
  shift 2
  log "== $name"
  local t0 status ms last
  t0=$(date +%s%N)
  timeout "$limit" "$@" >/tmp/gpu-step.log 2>&1
  status=$?
  ms=$((($(date +%s%N) - t0) / 1000000))
  tee -a "$OUT/gpu-check.log" </tmp/gpu-step.log | tail -n 25
  last=$(grep -v '^[[:space:]]*$' /tmp/gpu-step.log | tail -n 1 | tr -d '"' | cut -c1-200)
  echo "$name,$status,$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000))),\"$last\"" >>"$OUT/gpu-check.csv"
}
skip() { log "== $1 skipped: $2" && echo "$1,skipped,0,\"$2\"" >>"$OUT/gpu-check.csv"; }

# xz-compressed files, with xz where it is installed, else Python's lzma.
unxz() { if command -v xz >/dev/null; then xz -dc "$1"; else python3 -c 'import lzma, shutil, sys
shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi; }

# The Vulkan loader and the GL vendor-neutral libraries NVIDIA's Vulkan driver loads (EGL, GLX, GLdispatch), each
# only where the system has none: Debian's, unpacked into / as the device README says (not onto LD_LIBRARY_PATH:
# Deno refuses to spawn the tests' subprocesses with it set). grep reads all of ldconfig's output: a grep -q
# quitting early would fail the pipe and look like "no loader".
has() { ldconfig -p 2>/dev/null | grep "$1" >/dev/null; }
unpacked=0
for pair in libvulkan1:'libvulkan\.so\.1' libglvnd0:'libGLdispatch\.so\.0' libegl1:'libEGL\.so\.1' \
  libglx0:'libGLX\.so\.0' libopengl0:'libOpenGL\.so\.0' libgl1:'libGL\.so\.1' libgles2:'libGLESv2\.so\.2'; do
  pkg=${pair%%:*} lib=${pair#*:}
  if ! has "$lib"; then
    for f in .gpu/debs/"${pkg}"_*.deb; do [ -f "$f" ] && dpkg -x "$f" / && unpacked=1; done
  fi
done
[ "$unpacked" = 1 ] && ldconfig
# NVIDIA's Vulkan driver file; where the driver is mounted without one, written for its libGLX_nvidia.
icd=""
for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd*.json \
  /etc/vulkan/icd.d/nvidia_icd*.json; do
  if [ -f "$f" ]; then icd=$f && break; fi
done
if [ -z "$icd" ]; then
  glx=$( (ldconfig -p 2>/dev/null | grep -o '/[^ ]*libGLX_nvidia\.so\.0'; find /usr/local/nvidia -name 'libGLX_nvidia.so.0' \
    2>/dev/null) | head -n 1)
  if [ -n "$glx" ]; then
    icd=/tmp/nvidia_icd.json
    printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "%s", "api_version": "1.3.0"}}\n' "$glx" >"$icd"
  fi
fi
if [ -n "$icd" ]; then export VK_DRIVER_FILES="$icd" VK_ICD_FILENAMES="$icd"; fi
# NVIDIA's EGL vendor file, where the driver is mounted with one (its Vulkan driver opens EGL through glvnd).
for f in /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json /usr/share/glvnd/egl_vendor.d/10_nvidia.json; do
  if [ -f "$f" ]; then export __EGL_VENDOR_LIBRARY_FILENAMES="$f" && break; fi
done
log "vulkan loader: $(ldconfig -p 2>/dev/null | grep 'libvulkan\.so\.1' | head -n 1)"
log "vulkan driver file: ${icd:-none found}"

if ! command -v deno >/dev/null; then
  mkdir -p .gpu/bin # beside the repository: /tmp may be mounted noexec
  unxz .gpu/deno.xz >.gpu/bin/deno && chmod +x .gpu/bin/deno
  export PATH="$PWD/.gpu/bin:$PATH"
fi
[ -d node_modules ] || unxz .gpu/node_modules.tar.xz | tar -x
export NO_COLOR=1 DENO_NO_UPDATE_CHECK=1
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv |
  tee -a "$OUT/gpu-check.log"

step adapter 20 deno eval 'import { findWebGpuAdapter } from "./lib/backend.ts";
  console.log(JSON.stringify(await findWebGpuAdapter()));'
cp /tmp/gpu-step.log /tmp/gpu-adapter.log
if grep -q "$hardware" /tmp/gpu-adapter.log; then
  step webgpu-tests 90 deno test -P tests/kernels/webgpu_test.ts tests/kernels/webgpu_bits_test.ts \
    tests/kernels/webgpu_step_test.ts tests/kernels/webgpu_epoch_test.ts
  step bench 120 deno run --allow-read --allow-write=results --allow-run=/usr/bin/python3,deno bench/bench.ts \
    --backends webgpu "${BENCH_ARGS[@]}"
  # The CSV this run wrote (its last line names it), moved: results/ keeps only published runs.
  bench_csv=$(sed -n 's/^csv: //p' /tmp/gpu-step.log | tail -n 1)
  [ -n "$bench_csv" ] && [ -f "$bench_csv" ] && mv "$bench_csv" "$OUT/"
  echo3=$(mktemp -d)
  step "echo3-$ECHO3_SEEDS-seeds" 60 deno run --allow-read --allow-write="$echo3" experiments/echo3.ts \
    --seeds "$ECHO3_SEEDS" --backend webgpu --out "$echo3"
  cp "$echo3"/*.csv "$OUT/echo3-$ECHO3_SEEDS-seeds.csv" 2>/dev/null
else
  for s in webgpu-tests bench "echo3-$ECHO3_SEEDS-seeds"; do skip "$s" "no hardware WebGPU adapter"; done
fi
# The first Python that has PyTorch (a pyenv shim first on PATH may lack it).
py=python3
for p in python3 /usr/bin/python3; do
  if timeout 60 "$p" -c 'import torch' 2>/dev/null; then py=$p && break; fi
done
if timeout 60 "$py" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  step torch-replicas 90 "$py" bench/gpu/torch_replicas.py --device cuda ${TORCH_ARGS[@]+"${TORCH_ARGS[@]}"}
else
  step torch-replicas 60 "$py" bench/gpu/torch_replicas.py --device cpu --budget 0.3 --max-replicas 16
fi
grep -E '^(impl,|notebook nn.RNN,|batched bmm,)' /tmp/gpu-step.log >"$OUT/torch-replicas.csv"
if grep -q "$hardware" /tmp/gpu-adapter.log; then
  capacity=$(mktemp -d)
  step capacity-grid 60 deno run --allow-read --allow-write="$capacity" experiments/capacity.ts --backend webgpu \
    --out "$capacity" ${CAPACITY_ARGS[@]+"${CAPACITY_ARGS[@]}"}
  cp "$capacity"/*.csv "$OUT/capacity.csv" 2>/dev/null
else
  skip capacity-grid "no hardware WebGPU adapter"
fi
cat "$OUT/gpu-check.csv"
