#!/usr/bin/env bash
# Install the third-party clients the tests run against archiver's outputs, each pinned and
# kept apart from the project's own venv:
#   - pywb (web archive replay) in its own venv .venv-tools/pywb, from
#     tests/tools/pywb-requirements.txt (pywb pins werkzeug and pyOpenSSL exactly; they must
#     not constrain the project's .venv or its constraints file);
#   - the W3C WebVTT parser (npm webvtt-parser) in tests/tools/js/node_modules, with `npm ci`
#     from package-lock.json.
# Each install is stamped with the hash of its pin file, so a rerun with unchanged pins does
# nothing; a changed pin file rebuilds that client from scratch.
# Usage: scripts/install-test-clients.sh [PYTHON]   (node and npm must be on PATH: the
# Makefile's test-tools target installs Debian's nodejs/npm when they are missing)
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:-python3}

pins=tests/tools/pywb-requirements.txt
venv=.venv-tools/pywb
stamp="$venv/.installed-$(sha256sum "$pins" | cut -c1-12)"
if [ ! -e "$stamp" ]; then
  echo "installing pywb into $venv" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$pins"
  "$venv/bin/wb-manager" --help >/dev/null   # fail here, not in a test, if it cannot start
  touch "$stamp"
fi

js=tests/tools/js
jstamp="$js/node_modules/.installed-$(sha256sum "$js/package-lock.json" | cut -c1-12)"
if [ ! -e "$jstamp" ]; then
  echo "installing the W3C WebVTT parser into $js/node_modules" >&2
  (cd "$js" && npm ci --no-audit --no-fund --loglevel=error)
  node -e 'require(process.argv[1])' "$PWD/$js/node_modules/webvtt-parser" >/dev/null
  touch "$jstamp"
fi
