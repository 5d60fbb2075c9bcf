#!/usr/bin/env bash
# Debian's Chromium for tests/test_browser.py. Idempotent and quiet: does nothing when
# /usr/bin/chromium is already there. Needs root (or sudo) and Debian's package archive.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
echo "installing Debian's chromium for the browser test"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium > /dev/null
/usr/bin/chromium --version 2>/dev/null
