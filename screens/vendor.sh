#!/usr/bin/env bash
# Refresh the vendored front-end libraries from the npm registry at the pinned versions.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm init -y >/dev/null
npm install --no-audit --no-fund echarts@5.6.0 echarts-wordcloud@2.1.0 >/dev/null
out="$here/static/vendor"
cp node_modules/echarts/dist/echarts.min.js "$out/echarts-5.6.0.min.js"
cp node_modules/echarts/LICENSE "$out/LICENSE-echarts.txt"
cp node_modules/echarts/NOTICE "$out/NOTICE-echarts.txt"
cp node_modules/echarts-wordcloud/dist/echarts-wordcloud.min.js "$out/echarts-wordcloud-2.1.0.min.js"
echo "vendored into $out"
