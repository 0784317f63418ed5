#!/usr/bin/env bash
# Fills .gpu/, what bench/gpu/run.sh carries to a GPU machine that has no network:
#   deno.xz               this machine's Deno binary (92 MB), xz-compressed (about 30 MB)
#   node_modules.tar.xz   a fresh `deno install` of HEAD, no source maps, with the files of only the packages the GPU
#                         run imports (run.sh's entry points and the webgpu backend, which the lockfile pins): about 8 MB
#   debs/                 Debian's Vulkan loader (libvulkan1) and the GL vendor-neutral libraries NVIDIA's Vulkan
#                         driver loads (libglvnd0, libegl1, libglx0, libopengl0, libgl1, libgles2), each unpacked
#                         there with dpkg -x only where the system has none
# Run it here, from a clean checkout of what you want to measure, with npm and Debian reachable:
#   bash bench/gpu/prepare.sh
# then, with the device tool: run(command="bash bench/gpu/run.sh", carry=[".gpu"], timeout_s=540).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=.gpu
rm -rf "$out"
mkdir -p "$out/debs"

xz -T0 -6 -c "$(command -v deno)" >"$out/deno.xz"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git clone -q . "$tmp/repo"
(cd "$tmp/repo" && deno install >/dev/null 2>&1)
# The packages run.sh's steps import: `deno info` of its entry points and of the webgpu backend (imported by name,
# so no import graph shows it), closed over their dependencies; a kept package without its folder stops this. The
# others (the charts' vega and resvg, ...) go as stubs: their folder's .initialized, package.json files and links.
# Deno checks every package of deno.lock in node_modules/ and, offline, fails on a missing folder or package.json
# (measured with this Deno, 2.9.6, and an unreachable registry); it loads no other file of a package it is not asked for.
webgpu=$(sed -n 's/^export const WEBGPU_PACKAGE = "\(npm:[^"]*\)";$/\1/p' "$tmp/repo/lib/backend.ts")
[ -n "$webgpu" ] || { echo "no WEBGPU_PACKAGE in lib/backend.ts" >&2 && exit 1; }
printf 'import "%s";\n' ./lib/backend.ts ./tests/kernels/webgpu_test.ts ./tests/kernels/webgpu_bits_test.ts \
  ./tests/kernels/webgpu_step_test.ts ./tests/kernels/webgpu_epoch_test.ts ./bench/bench.ts ./experiments/echo3.ts \
  ./experiments/capacity.ts "$webgpu" >"$tmp/repo/gpu_run.ts"
(cd "$tmp/repo" && deno info --json gpu_run.ts) >"$tmp/info.json"
deno eval 'const [file, dir] = Deno.args;
  const info = JSON.parse(Deno.readTextFileSync(file));
  // "@a/b_c@1.0.0_peer@2" -> "@a+b_c@1.0.0": the peer dependencies after the version are not in the folder name
  const folder = (id) => id.match(/^@?[^@]+@[^_]+/)[0].replace("/", "+");
  const keep = new Set(), todo = info.modules.filter((m) => m.kind === "npm").map((m) => m.npmPackage);
  while (todo.length) {
    const id = todo.pop();
    if (keep.has(id)) continue;
    keep.add(id);
    todo.push(...(info.npmPackages[id].dependencies ?? []));
  }
  const kept = new Set([...keep].map(folder));
  for (const f of kept) Deno.statSync(`${dir}/node_modules/.deno/${f}`);
  for (const id of Object.keys(info.npmPackages)) if (!kept.has(folder(id))) console.log(`node_modules/.deno/${folder(id)}`);
  console.error(`the files of ${kept.size} of ${Object.keys(info.npmPackages).length} packages, the others as stubs`);' \
  "$tmp/info.json" "$tmp/repo" >"$tmp/drop"
while read -r stub; do find "$tmp/repo/$stub/node_modules" -type f ! -name package.json -delete; done <"$tmp/drop"
tar -C "$tmp/repo" -cJf "$out/node_modules.tar.xz" --exclude='*.map' node_modules

apt=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
mkdir -p /tmp/amd64/partial
apt-get "${apt[@]}" update -qq
(cd "$out/debs" && apt-get "${apt[@]}" download libvulkan1 libglvnd0 libegl1 libglx0 libopengl0 libgl1 libgles2 \
  >/dev/null)

du -sh "$out"/* "$out"/debs/*
