#!/usr/bin/env bash
# Install and build the IIIF AV viewer that `archiver publish` copies into site/viewer/:
# Samvera Ramp with React and Video.js from npm, pinned by viewer/package-lock.json
# (`npm ci`), bundled by esbuild (viewer/build.mjs) into viewer/dist/. Nothing is fetched at
# run time: the site serves these files itself.
# The build is stamped with the hash of the lock file and the build inputs, so a rerun with
# unchanged pins does nothing; a change rebuilds from scratch.
# Usage: scripts/install-viewer.sh   (node and npm must be on PATH; the Makefile's viewer
# target installs Debian's nodejs/npm when they are missing)
set -euo pipefail
cd "$(dirname "$0")/../viewer"
key=$(cat package-lock.json build.mjs ./*.js viewer.css | sha256sum | cut -c1-12)
stamp="dist/.built-$key"
[ -e "$stamp" ] && exit 0
echo "installing the IIIF viewer (Samvera Ramp) into viewer/dist" >&2
rm -rf node_modules dist
npm ci --no-audit --no-fund --loglevel=error
node build.mjs >&2
touch "$stamp"
