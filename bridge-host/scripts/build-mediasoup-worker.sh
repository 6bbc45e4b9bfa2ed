#!/usr/bin/env bash
# Offline build of the mediasoup-worker binary for the pinned mediasoup version, against Debian bookworm packages.
# (mediasoup's own postinstall downloads a prebuilt worker from GitHub, which CI/offline hosts cannot reach.)
#
#  - idempotent: if the binary is already cached (or mediasoup's prebuilt worker exists), it only prints its path;
#  - the binary is cached OUTSIDE the repo, keyed by version:
#      ${PARLEY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/parley}/mediasoup-worker-<version>
#  - node_modules is never modified: the worker source is copied to a temporary build directory;
#  - apt build dependencies are installed only when missing.
# The bridge (bridge-host/src/main.ts) sets MEDIASOUP_WORKER_BIN to the cached binary when it exists.
# Last line of output: the binary's absolute path.
# Each patch below (step 4) says why it is needed.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
MS_DIR="$ROOT/node_modules/mediasoup"
[ -f "$MS_DIR/package.json" ] || { echo "build-mediasoup-worker: $MS_DIR missing; run npm ci first" >&2; exit 1; }
MS_VERSION=$(node -p "require('$MS_DIR/package.json').version")
CACHE_DIR=${PARLEY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/parley}
OUT="$CACHE_DIR/mediasoup-worker-$MS_VERSION"
PREBUILT="$MS_DIR/worker/out/Release/mediasoup-worker"

# Probe a binary: mediasoup-worker exits with 41 ("missing MEDIASOUP_VERSION") when run without its env, and
# fails to start at all if a shared library is missing. Any exit other than a loader error (127) counts as OK.
runs() { local rc=0; "$1" </dev/null >/dev/null 2>&1 || rc=$?; [ "$rc" -ne 127 ] && [ "$rc" -ne 126 ]; }

if [ -z "${MEDIASOUP_FORCE_BUILD:-}" ]; then
  if [ -x "$OUT" ] && runs "$OUT"; then echo "mediasoup-worker $MS_VERSION (cached):" >&2; echo "$OUT"; exit 0; fi
  if [ -x "$PREBUILT" ] && runs "$PREBUILT"; then echo "mediasoup-worker $MS_VERSION (prebuilt by npm):" >&2; echo "$PREBUILT"; exit 0; fi
fi

# --- 1. system packages (only the missing ones) --------------------------------------------------------------
PKGS=(g++ make pkg-config meson ninja-build libssl-dev libuv1-dev libsrtp2-dev libusrsctp-dev libabsl-dev
  flatbuffers-compiler libflatbuffers-dev)
bash "$ROOT/bridge-host/scripts/apt-install-missing.sh" "${PKGS[@]}"

# --- 2. copy the worker source to a temporary build dir --------------------------------------------------------
BUILD=$(mktemp -d "${TMPDIR:-/tmp}/parley-mediasoup-worker.XXXXXX")
trap 'rm -rf "$BUILD"' EXIT
W="$BUILD/worker"
cp -r "$MS_DIR/worker" "$W"
rm -rf "$W/out"

# --- 3. stub meson subprojects -> system libraries --------------------------------------------------------------
rm -f "$W"/subprojects/*.wrap
S="$W/subprojects"
mk() { # mk <name> <meson.build body>
  mkdir -p "$S/$1"; echo "int ms_stub_$(echo "$1" | tr -- - _)(void) { return 0; }" > "$S/$1/stub.c"
  printf "project('%s', 'c')\n%s\n" "$1" "$2" > "$S/$1/meson.build"
}
# The static_library() stubs only satisfy link_whole: of the Rust-crate target, which is never built.
mk openssl "openssl_dep = dependency('openssl')
libcrypto_lib = static_library('stub_crypto', 'stub.c')
libssl_lib = static_library('stub_ssl', 'stub.c')"
mk libuv "libuv_dep = dependency('libuv')
libuv = static_library('stub_uv', 'stub.c')"
mk usrsctp "usrsctp_dep = dependency('usrsctp')
usrsctp = static_library('stub_usrsctp', 'stub.c')"
mk abseil-cpp "absl_container_dep = declare_dependency(dependencies: [
  dependency('absl_flat_hash_map'), dependency('absl_flat_hash_set'), dependency('absl_btree'),
  dependency('absl_inlined_vector'), dependency('absl_memory'), dependency('absl_optional')])
absl_strings_dep = dependency('absl_strings')
absl_types_dep = declare_dependency(dependencies: [
  dependency('absl_optional'), dependency('absl_variant'), dependency('absl_span')])
absl_container_lib = static_library('stub_absl', 'stub.c')"
mk flatbuffers "flatbuffers_dep = dependency('flatbuffers')
flatbuffers_lib = static_library('stub_flatbuffers', 'stub.c')"
mk catch2 "catch2_dep = declare_dependency()  # tests are not built"
mk libsrtp3 "libsrtp3_dep = declare_dependency(dependencies: dependency('libsrtp2'),
  include_directories: include_directories('include'))
libsrtp3 = static_library('stub_srtp3', 'stub.c')"
printf "option('build_tests', type: 'boolean', value: false)\noption('build_benchmarks', type: 'boolean', value: false)\n" > "$S/libuv/meson_options.txt"
printf "option('sctp_build_programs', type: 'boolean', value: false)\n" > "$S/usrsctp/meson_options.txt"
printf "option('crypto-library', type: 'string', value: 'openssl')\noption('crypto-library-kdf', type: 'string', value: 'disabled')\noption('tests', type: 'string', value: 'disabled')\n" > "$S/libsrtp3/meson_options.txt"

# srtp.h shim: mediasoup 3.19 is written against libsrtp 3.0.0-beta; Debian bookworm has libsrtp 2.5.
mkdir -p "$S/libsrtp3/include"
cat > "$S/libsrtp3/include/srtp.h" <<'SHIM'
/* libsrtp 3.x API subset used by mediasoup, on top of Debian's libsrtp 2.5 */
#ifndef MS_SRTP2_COMPAT_H
#define MS_SRTP2_COMPAT_H
#include <srtp2/srtp.h>
#ifdef __cplusplus
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
constexpr srtp_err_status_t srtp_err_status_buffer_small = static_cast<srtp_err_status_t>(28);
constexpr srtp_err_status_t srtp_err_status_cryptex_err  = static_cast<srtp_err_status_t>(29);
/* 3.0.0-beta: fn(ctx, in, in_len, out, *out_len (capacity in / length out)[, mki_index]) */
#define MS_SRTP_COMPAT(fn, room, ...)                                                   \
	inline srtp_err_status_t fn(                                                        \
	  srtp_t ctx, const uint8_t* in, size_t inLen, uint8_t* out, size_t* outLen __VA_ARGS__) \
	{                                                                                   \
		if (inLen + (room) > *outLen || inLen > static_cast<size_t>(INT_MAX))             \
			return srtp_err_status_buffer_small;                                            \
		if (out != in)                                                                    \
			std::memmove(out, in, inLen);                                                   \
		int l = static_cast<int>(inLen);                                                  \
		const srtp_err_status_t err = ::fn(ctx, static_cast<void*>(out), &l);             \
		if (err == srtp_err_status_ok)                                                    \
			*outLen = static_cast<size_t>(l);                                               \
		return err;                                                                       \
	}
MS_SRTP_COMPAT(srtp_protect, SRTP_MAX_TRAILER_LEN, , size_t /*mki_index*/)
MS_SRTP_COMPAT(srtp_protect_rtcp, SRTP_MAX_TRAILER_LEN, , size_t /*mki_index*/)
MS_SRTP_COMPAT(srtp_unprotect, 0)
MS_SRTP_COMPAT(srtp_unprotect_rtcp, 0)
#undef MS_SRTP_COMPAT
inline srtp_err_status_t srtp_stream_remove(srtp_t s, uint32_t ssrc) { return ::srtp_remove_stream(s, ssrc); }
#endif
#endif
SHIM

# --- 4. two small patches ------------------------------------------------------------------------------------------
cd "$W"
# Debian bookworm has meson 1.0.1; nothing in this meson.build needs 1.1.
sed -i "s/meson_version: '>= 1.1.0'/meson_version: '>= 1.0.0'/" meson.build
# Debian's OpenSSL is built with kTLS: mediasoup's BIO callback returns 1 for every post-op BIO_ctrl(), so
# BIO_get_ktls_send() reads "true", libssl never allocates its DTLS write buffer and the worker SIGSEGVs on the first
# DTLS handshake. Return the real result for that one ctrl.
sed -i -e 's#int /\*argi\*/#int argi#' \
  -e 's#resultOfcallback = (operationType == BIO_CB_RETURN) ?#resultOfcallback = (operationType == BIO_CB_RETURN || (operationType == (BIO_CB_CTRL | BIO_CB_RETURN) \&\& argi == BIO_CTRL_GET_KTLS_SEND)) ?#' \
  src/RTC/DtlsTransport.cpp
grep -q 'argi == BIO_CTRL_GET_KTLS_SEND' src/RTC/DtlsTransport.cpp || { echo "build-mediasoup-worker: DTLS patch did not apply" >&2; exit 1; }

# --- 5. configure + build only the worker (liburing off: Debian's 2.3 lacks io_uring_prep_sendto & co.) ----------
echo "building mediasoup-worker $MS_VERSION in $W (takes a few minutes)..." >&2
meson setup out/build --wrap-mode=nodownload --buildtype=release -Db_ndebug=true -Dms_disable_liburing=true >&2
meson compile -C out/build flatbuffers-generator >&2
meson compile -C out/build mediasoup-worker >&2
runs out/build/mediasoup-worker || { echo "build-mediasoup-worker: built binary does not run" >&2; exit 1; }
mkdir -p "$CACHE_DIR"
cp out/build/mediasoup-worker "$OUT.tmp.$$" && mv -f "$OUT.tmp.$$" "$OUT"   # atomic for concurrent runs
echo "mediasoup-worker $MS_VERSION (built):" >&2
echo "$OUT"
