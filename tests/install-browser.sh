#!/usr/bin/env bash
# Debian's Chromium for the browser test (tests/test_app.py). Playwright drives this system browser through
# executable_path, so no browser is downloaded. Does nothing when chromium is already installed.
set -euo pipefail
command -v chromium >/dev/null 2>&1 && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y --no-install-recommends chromium \
  || { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends chromium; }
