#!/usr/bin/env bash
# Fills .gpu/, what bench/gpu/run.sh carries to a GPU machine that has no network:
#   deno.xz               this machine's Deno binary (92 MB), xz-compressed (about 30 MB)
#   node_modules.tar.xz   a fresh `deno install` of HEAD (the lockfile pins the webgpu backend too), no source maps
#   debs/                 Debian's Vulkan loader (libvulkan1), unpacked there with dpkg -x
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
tar -C "$tmp/repo" -cJf "$out/node_modules.tar.xz" --exclude='*.map' node_modules

apt=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
mkdir -p /tmp/amd64/partial
apt-get "${apt[@]}" update -qq
(cd "$out/debs" && apt-get "${apt[@]}" download libvulkan1 >/dev/null)

du -sh "$out"/* "$out"/debs/*
