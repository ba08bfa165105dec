#!/usr/bin/env bash
# bench/peers/setup.sh - install every peer `helios bench` runs beside
# Helios, from Debian's packages: LMDB and RocksDB (libraries, used in
# process), Redis and PostgreSQL (servers the harness starts on a unix
# socket in a temporary directory, and their client libraries).
#
# The peers are optional at build time: meson defines HL_HAVE_<PEER> for
# each client library it finds, so rebuild after installing and the peers
# that were skipped ("not built: ...") run.
#
# Usage: bench/peers/setup.sh        (as root, or through sudo)
set -euo pipefail

packages=(
	liblmdb-dev      # lmdb peer
	librocksdb-dev   # rocksdb peer
	libhiredis-dev   # redis peer: client
	redis-server     # redis peer: server
	postgresql       # postgresql peer: server (initdb, postgres)
	libpq-dev        # postgresql peer: client
)

if [ "$(id -u)" -eq 0 ]; then
	as_root=()
elif command -v sudo >/dev/null 2>&1; then
	as_root=(sudo)
else
	echo "setup.sh: not root and no sudo: run as root:" >&2
	echo "  apt-get install -y --no-install-recommends ${packages[*]}" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
${as_root[@]+"${as_root[@]}"} apt-get update
${as_root[@]+"${as_root[@]}"} apt-get install -y --no-install-recommends "${packages[@]}"

cat <<'MSG'
setup.sh: the peers' packages are installed.
Rebuild so the build finds them (it defines HL_HAVE_* per client library):
  meson setup build   (once, if build/ does not exist yet)
  ninja -C build
Then: build/coordinator/helios bench
MSG
