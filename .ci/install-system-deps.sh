#!/usr/bin/env bash
# Debian packages the project needs (idempotent). Used by .ci/run and by README's set-up.
set -euo pipefail
PKGS=(chromium coturn openssl ffmpeg g++ make pkg-config meson ninja-build libssl-dev libuv1-dev libsrtp2-dev
  libusrsctp-dev libabsl-dev flatbuffers-compiler libflatbuffers-dev strace)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
