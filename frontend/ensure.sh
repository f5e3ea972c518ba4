#!/usr/bin/env bash
# Build the viewer assets into OUTDIR when they are missing or out of date; otherwise do nothing.
#
#   bash frontend/ensure.sh OUTDIR        (make viewers; make run and make test call it)
#
# "Out of date" means: the inputs (package.json, package-lock.json, .npmrc and the build
# scripts and patches) hash differently from OUTDIR/build-id. Then `npm ci` runs (only when node_modules
# was not installed from this very lock file), build.sh builds into a fresh folder next to
# OUTDIR, text assets get a .gz twin for the server to send compressed, and the new folder
# replaces OUTDIR in one rename. The server puts build-id into the asset URLs, so browsers
# may cache them for a year.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:?usage: ensure.sh OUTDIR}"
mkdir -p "$(dirname "$out")"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"

inputs=(package.json package-lock.json .npmrc build.sh build-mirador.mjs mirador-entry.js ensure.sh)
build_id="$(cd "$here" && cat "${inputs[@]}" patches/*.mjs | sha256sum | cut -c1-16)"

if [ -f "$out/build-id" ] && [ "$(cat "$out/build-id")" = "$build_id" ] \
  && [ -f "$out/mirador/mirador.min.js" ] && [ -f "$out/uv/umd/UV.js" ]; then
  exit 0
fi

if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  echo "ensure.sh: Node.js 20+ and npm are needed to build the viewers (Debian: apt-get install nodejs npm)" >&2
  exit 1
fi

echo "ensure.sh: building the viewers (Mirador, Universal Viewer) into $out" >&2
lock_hash="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
stamp="$here/node_modules/.beeldpost-lock-sha256"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$lock_hash" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_hash" > "$stamp"
fi

tmp="$(mktemp -d "$out.building.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
bash "$here/build.sh" "$tmp" >&2
find "$tmp" -type f \( -name '*.js' -o -name '*.css' -o -name '*.json' -o -name '*.txt' \) \
  -size +1k -exec gzip -9 -k -n {} +
echo "$build_id" > "$tmp/build-id"

old="$out.old.$$"
if [ -e "$out" ]; then mv "$out" "$old"; fi
mv "$tmp" "$out"
trap - EXIT
rm -rf "$old"
echo "ensure.sh: viewers ready in $out (build $build_id)" >&2
