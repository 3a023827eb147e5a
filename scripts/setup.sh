#!/usr/bin/env bash
# scripts/setup.sh: installs what onestep needs on Debian 12, and only what is missing.
#   - Mesa lavapipe 25.x from bookworm-backports (the software Vulkan driver Dawn accepts; bookworm's 22.3 is rejected)
#   - Debian's chromium (ships SwiftShader, and runs the browser tests and the browser bench)
#   - python3-torch for the PyTorch interop tests (optional: ONESTEP_SETUP_TORCH=0 skips it)
#   - npm dependencies (npm install) when node_modules is missing or stale
# Idempotent: a second run prints "ok" lines and changes nothing. Run as root (or with sudo available).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    say "not root and no sudo: cannot install system packages; continuing with what is there"; SUDO="false"; fi
fi

need_apt_update=1
apt_update() { if [ $need_apt_update = 1 ]; then say "apt-get update"; $SUDO apt-get update -qq; need_apt_update=0; fi; }

LVP_ICD=/usr/share/vulkan/icd.d/lvp_icd.json
mesa_version() { dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true; }
mesa_ok() { local v; v=$(mesa_version); [ -f "$LVP_ICD" ] && [ -n "$v" ] && dpkg --compare-versions "$v" ge 24; }

if mesa_ok; then say "ok: lavapipe (mesa-vulkan-drivers $(mesa_version))"
elif [ -f /etc/debian_version ]; then
  SRC=/etc/apt/sources.list.d/debian.sources
  if [ -f "$SRC" ] && ! grep -q 'bookworm-backports' "$SRC"; then
    say "enabling bookworm-backports in $SRC (for Mesa 25's lavapipe)"
    # append to the first 'Suites:' line that names plain bookworm (not bookworm-security)
    $SUDO sed -i -E '0,/^Suites:(.* )?bookworm( |$)/s/^(Suites:(.* )?bookworm( .*)?)$/\1 bookworm-backports/' "$SRC"
  elif [ ! -f "$SRC" ] && ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    say "adding /etc/apt/sources.list.d/backports.list"
    echo 'deb http://deb.debian.org/debian bookworm-backports main' | $SUDO tee /etc/apt/sources.list.d/backports.list >/dev/null
  fi
  apt_update
  say "installing mesa-vulkan-drivers from bookworm-backports (lavapipe)"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
  mesa_ok && say "ok: lavapipe (mesa-vulkan-drivers $(mesa_version))" || say "WARNING: lavapipe not installed; SwiftShader will be used"
fi

if [ -x /usr/bin/chromium ] && [ -f /usr/lib/chromium/vk_swiftshader_icd.json ]; then say "ok: chromium + SwiftShader"
else
  apt_update
  say "installing chromium (headless browser tests; its SwiftShader is the fallback Vulkan driver)"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi

if [ "${ONESTEP_SETUP_TORCH:-1}" = 1 ]; then
  if python3 -c 'import torch' 2>/dev/null || /usr/bin/python3 -c 'import torch' 2>/dev/null; then say "ok: python3-torch"
  else
    apt_update
    say "installing python3-torch (PyTorch interop tests)"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-torch python3-numpy >/dev/null || say "WARNING: python3-torch not installed; interop tests will fail"
  fi
fi

# npm packages: installed when node_modules is missing or was installed from another lockfile (compared by content:
# a checkout, a worktree or a merge touches package.json's time without changing what it asks for)
lock_hash() { if [ -f package-lock.json ]; then sha256sum package-lock.json | cut -c1-64; else echo none; fi; }
if [ -L node_modules ]; then say "ok: node_modules (a link to $(readlink node_modules); not reinstalled through it)"
elif [ -d node_modules ] && [ "$(cat node_modules/.onestep-lock-hash 2>/dev/null)" = "$(lock_hash)" ]; then say "ok: node_modules"
else
  say "npm ci (npm install when there is no lockfile)"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
  lock_hash > node_modules/.onestep-lock-hash
fi
say "done"
