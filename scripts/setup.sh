#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine lacks for Amalgam: OpenBLAS + LAPACKE (the native
# linear algebra addon), Chromium (end-to-end tests), Fashion-MNIST and the UCI digits (sources the
# mini-8 benchmark is rebuilt from, and its reproducibility test), then the npm dependencies (which
# builds better-sqlite3 and our addon). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
need=()
for p in libopenblas-dev liblapacke-dev chromium dataset-fashion-mnist python3-sklearn; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
npm ci --no-audit --no-fund
node scripts/build-native.mjs
