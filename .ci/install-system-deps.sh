#!/usr/bin/env bash
# Debian packages the project needs (idempotent). Used by .ci/run and by README's set-up.
set -euo pipefail
PKGS=(chromium coturn openssl ffmpeg iproute2 gcc g++ make pkg-config meson ninja-build libssl-dev libuv1-dev libsrtp2-dev
  libusrsctp-dev libabsl-dev flatbuffers-compiler libflatbuffers-dev strace)
bash "$(dirname "$0")/../bridge-host/scripts/apt-install-missing.sh" "${PKGS[@]}"
