#!/usr/bin/env bash
# Make sure the external programs a target needs exist.
# Usage: scripts/ensure-tools.sh COMMAND:DEBIAN_PACKAGE ...   (COMMAND may also be an absolute
# path of a file the package installs, e.g. a font, or a shared library name such as
# libatomic.so.1, looked up with ldconfig)
# Installs Debian's package for each missing command when apt is usable (root + apt-get);
# otherwise prints one line saying what to install and fails.
set -euo pipefail
missing_pkgs=()
for pair in "$@"; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  if [[ $cmd == /* ]]; then
    [ -e "$cmd" ] || missing_pkgs+=("$pkg")
  elif [[ $cmd == lib*.so* ]]; then
    /sbin/ldconfig -p | grep -qF "$cmd " || missing_pkgs+=("$pkg")
  else
    command -v "$cmd" >/dev/null 2>&1 || missing_pkgs+=("$pkg")
  fi
done
[ ${#missing_pkgs[@]} -eq 0 ] && exit 0
# shellcheck disable=SC2207
missing_pkgs=($(printf '%s\n' "${missing_pkgs[@]}" | sort -u))
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages: ${missing_pkgs[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}" >/dev/null
else
  echo "missing programs: please install the Debian/Ubuntu packages: ${missing_pkgs[*]}" >&2
  exit 1
fi
