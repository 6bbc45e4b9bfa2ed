#!/usr/bin/env bash
# Install the named Debian packages that are not installed yet (idempotent; a no-op when all are present).
# Usage: bash apt-install-missing.sh <package>...   (sudo is used when not run as root)
set -euo pipefail
missing=()
for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
