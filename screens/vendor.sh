#!/usr/bin/env bash
# Rebuild the vendored front-end libraries from the npm registry at the pinned versions.
# ECharts: screens/echarts-entry.js (the charts the screens use, and the word cloud) bundled by esbuild.
# Leaflet, leaflet.heat and gcoord (the tile basemap, GRIDHUB_MAP_TILES): their dist files as published.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm init -y >/dev/null
npm install --no-audit --no-fund echarts@5.6.0 esbuild@0.25.12 \
  leaflet@1.9.4 leaflet.heat@0.2.0 gcoord@1.0.7 >/dev/null
out="$here/static/vendor"
# As an ES module (.mjs: `npm init` made this folder "type": "commonjs"): esbuild then hoists every module into
# one scope instead of wrapping each in a lazy initialiser, and the bundle starts ~45 ms sooner in the browser.
cp "$here/echarts-entry.js" entry.mjs
# The banner is V8's explicit compile hint: compile every function while the file streams in, off the main
# thread, instead of one by one on the main thread the first time each runs (the big screen's first picture
# runs most of them): ~90 ms sooner on a cold load, no change with the browser's code cache.
npx esbuild entry.mjs --bundle --minify --format=iife --target=es2020 --legal-comments=eof \
  --banner:js='//# allFunctionsCalledOnLoad' --outfile="$out/echarts-screens-5.6.0.min.js"
cp node_modules/echarts/LICENSE "$out/LICENSE-echarts.txt"
cp node_modules/echarts/NOTICE "$out/NOTICE-echarts.txt"
# Leaflet: the script, its stylesheet and the images the stylesheet names, in a folder of their own.
rm -rf "$out/leaflet-1.9.4" && mkdir -p "$out/leaflet-1.9.4/images"
cp node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css "$out/leaflet-1.9.4/"
cp node_modules/leaflet/dist/images/*.png "$out/leaflet-1.9.4/images/"
cp node_modules/leaflet/LICENSE "$out/LICENSE-leaflet.txt"
cp node_modules/leaflet.heat/dist/leaflet-heat.js "$out/leaflet-heat-0.2.0.js"
cp node_modules/leaflet.heat/LICENSE "$out/LICENSE-leaflet.heat.txt"
cp node_modules/gcoord/dist/gcoord.esm-browser.prod.js "$out/gcoord-1.0.7.esm.min.js"
cp node_modules/gcoord/LICENSE "$out/LICENSE-gcoord.txt"
echo "vendored into $out"
