#!/bin/sh
# Installs the Debian 12 packages Metricstor builds and tests with (idempotent; quick when present).
set -e
PKGS="build-essential pkg-config libmicrohttpd-dev libgnutls28-dev libcrypt-dev openssl libsnappy-dev libpcre2-dev libxxhash-dev libzstd-dev libcmocka-dev python3 python3-snappy curl prometheus prometheus-node-exporter"
# "fuzz" adds clang and its libFuzzer runtime; "bench" adds the peers and gnuplot.
case "${1:-}" in
  fuzz) PKGS="$PKGS clang libclang-rt-14-dev" ;;
  bench) PKGS="$PKGS victoria-metrics gnuplot-nox" ;;
esac
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing:$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
