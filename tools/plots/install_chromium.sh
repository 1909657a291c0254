#!/usr/bin/env bash
# Install Debian's headless-capable chromium for the offline plots check
# (tools/plots/browser_check.py, tools/plots/check_offline.py, tests/tooling/test_plots_offline.py).
#
# Idempotent: does nothing if chromium is already there. Needs root (or passwordless sudo), apt-get and the Debian
# package mirrors. Where one is missing it prints one line saying why and exits 0, so `make test` goes on and the
# browser tests are skipped; REQUIRE_CHROMIUM=1 (CI: .ci/run) makes that an error instead.
set -euo pipefail

CHROMIUM=${PLOTS_CHECK_CHROMIUM:-/usr/bin/chromium}

cannot() {
    if [ "${REQUIRE_CHROMIUM:-0}" = 1 ]; then
        echo "error: cannot install chromium: $1" >&2
        exit 1
    fi
    echo "chromium not installed ($1): the browser tests are skipped; CI runs them"
    exit 0
}

if [ -x "$CHROMIUM" ]; then
    echo "chromium already installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        cannot "needs root or passwordless sudo for apt-get"
    fi
fi
command -v apt-get >/dev/null 2>&1 || cannot "no apt-get: not Debian or Ubuntu"

start=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null 2>&1 || true  # stale or unreachable lists: the install below says so
if ! out=$($SUDO apt-get install -y -qq --no-install-recommends chromium 2>&1); then
    cannot "apt-get install chromium failed: $(printf '%s\n' "$out" | tail -n 1)"
fi
end=$(date +%s)

if [ ! -x "$CHROMIUM" ]; then
    echo "error: apt-get finished but $CHROMIUM is missing" >&2
    exit 1
fi

echo "installed $("$CHROMIUM" --version 2>/dev/null || echo chromium) in $((end - start))s"
