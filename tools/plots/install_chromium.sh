#!/usr/bin/env bash
# Install Debian's headless-capable chromium for the offline plots check
# (tools/plots/browser_check.py.py, tools/plots/check_offline.py, tests/test_plots_offline.py).
#
# Idempotent: does nothing if /usr/bin/chromium already exists.
# Needs root (or sudo) and access to the Debian package mirrors.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    echo "chromium already installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "error: need root (or sudo) to apt-get install chromium" >&2
        exit 1
    fi
fi

start=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium
end=$(date +%s)

if [ ! -x "$CHROMIUM" ]; then
    echo "error: apt-get finished but $CHROMIUM is missing" >&2
    exit 1
fi

echo "installed $("$CHROMIUM" --version 2>/dev/null || echo chromium) in $((end - start))s"
