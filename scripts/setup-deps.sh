#!/usr/bin/env bash
# Installs the Debian packages the build needs (OpenBLAS with CBLAS, LAPACKE), if missing.
set -euo pipefail
missing=()
for pkg in libopenblas-dev liblapacke-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}"
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
