#!/usr/bin/env bash
# Rebuild the vendored front-end libraries from the npm registry at the pinned versions.
# ECharts: screens/echarts-entry.js (the charts the screens use, and the word cloud) bundled by esbuild.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm init -y >/dev/null
npm install --no-audit --no-fund echarts@5.6.0 echarts-wordcloud@2.1.0 esbuild@0.25.12 >/dev/null
out="$here/static/vendor"
cp "$here/echarts-entry.js" entry.js
npx esbuild entry.js --bundle --minify --format=iife --target=es2020 --legal-comments=eof \
  --outfile="$out/echarts-screens-5.6.0.min.js"
cp node_modules/echarts/LICENSE "$out/LICENSE-echarts.txt"
cp node_modules/echarts/NOTICE "$out/NOTICE-echarts.txt"
echo "vendored into $out"
