#!/usr/bin/env bash
# Build the self-contained viewer asset directory for Beeldpost.
#
#   bash frontend/build.sh [OUTDIR]      (default: frontend/dist)
#
# Uses only node_modules (installed with `npm ci` from package-lock.json): bundles Mirador's
# ES build with production React/MUI (build-mirador.mjs, esbuild) and copies Universal Viewer's
# prebuilt UMD build, into
#   OUTDIR/mirador/   mirador.min.js (global `Mirador`), fonts/roboto.css + font files, licences
#   OUTDIR/uv/        umd/UV.js + its lazily loaded chunks, uv.css, default config, locales/, LICENSE
#   OUTDIR/versions.json
# Nothing is fetched at run time: a page needs only these files.
# MIRADOR_BUNDLE=upstream copies Mirador's own UMD build instead (it runs React in development mode).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/dist}"
case "$out" in
  "" | "/") echo "build.sh: refusing to use output directory '$out'" >&2; exit 2 ;;
esac
mkdir -p "$out"
out="$(cd "$out" && pwd)"

cd "$here"
if [ ! -f node_modules/.package-lock.json ]; then
  echo "build.sh: node_modules missing, running npm ci" >&2
  npm ci --no-audit --no-fund
fi

nm="$here/node_modules"
version() { node -p "require('$nm/$1/package.json').version"; }
want() { node -p "require('$here/package.json').dependencies['$1']"; }
for pkg in mirador universalviewer @fontsource/roboto esbuild; do
  if [ "$(version "$pkg")" != "$(want "$pkg")" ]; then
    echo "build.sh: $pkg in node_modules is $(version "$pkg"), package.json wants $(want "$pkg"); run npm ci" >&2
    exit 1
  fi
done

rm -rf "$out/mirador" "$out/uv"
mkdir -p "$out/mirador/fonts/files" "$out/uv"

# --- Mirador: one script (React, MUI, OpenSeadragon and all Mirador locales inside).
if [ "${MIRADOR_BUNDLE:-esbuild}" = upstream ]; then
  cp "$nm/mirador/dist/mirador.min.js" "$out/mirador/"
else
  node "$here/build-mirador.mjs" "$out/mirador"
fi
cp "$nm/mirador/LICENSE" "$out/mirador/LICENSE"
# Mirador's MUI theme asks for "Roboto"; ship it locally (latin + latin-ext, the weights MUI uses).
roboto="$nm/@fontsource/roboto"
: > "$out/mirador/fonts/roboto.css"
for w in 300 400 500 700; do
  for subset in latin-ext latin; do
    css="$roboto/$subset-$w.css"
    cat "$css" >> "$out/mirador/fonts/roboto.css"
    for f in $(grep -o 'files/[A-Za-z0-9._-]*' "$css" | sort -u); do
      cp "$roboto/$f" "$out/mirador/fonts/files/"
    done
  done
done
cp "$roboto/LICENSE" "$out/mirador/fonts/LICENSE-roboto"

# --- Universal Viewer: UMD entry + webpack chunks (loaded relative to UV.js), CSS, default config.
uvdist="$nm/universalviewer/dist"
cp -R "$uvdist/umd" "$out/uv/umd"
cp "$uvdist/uv.css" "$out/uv/uv.css"
cp "$uvdist/uv-iiif-config.json" "$out/uv/uv-iiif-config.json"
cp "$nm/universalviewer/LICENSE.txt" "$out/uv/LICENSE.txt"
# UI strings ("$key": "text"). UV compiles these into its chunks and never fetches them; they are
# copied as the key list for a translation overlay (UV 4.4 has no Dutch locale, see README).
mkdir -p "$out/uv/locales"
cp "$uvdist"/cjs/locales/*.json "$out/uv/locales/"

cat > "$out/versions.json" <<EOF
{"mirador": "$(version mirador)", "mirador_bundle": "${MIRADOR_BUNDLE:-esbuild}", "universalviewer": "$(version universalviewer)", "@fontsource/roboto": "$(version @fontsource/roboto)"}
EOF

echo "build.sh: wrote $out ($(du -sh "$out" | cut -f1))"
