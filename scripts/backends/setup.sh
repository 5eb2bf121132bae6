#!/usr/bin/env bash
# Installs the real OpenTelemetry trace backends that __test__/backends*.test.mjs start on loopback:
#   Arize Phoenix (OTLP http/protobuf + gRPC, REST query API), MLflow (OTLP http/json + protobuf),
#   rotel (a Rust OTLP collector shipped as a PyPI wheel).
# Layout (all under <repo>/.backends/, git-ignored):
#   uv/       a bootstrap venv holding a pinned uv (from PyPI)
#   venv/     the backends venv (phoenix, mlflow, rotel), bytecode compiled
#   stamp     the pinned versions last installed; when it matches, this script does nothing
# Needs only python3 (3.11) with venv + pip, and PyPI. Idempotent: run it as often as you like.
set -euo pipefail
start=$SECONDS
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="$root/.backends"

UV_PIN="uv==0.13.8"
PINS=(arize-phoenix==20.26.1 mlflow==3.17.2 rotel==0.0.1a15)
want="$UV_PIN ${PINS[*]} python=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

venv="$dir/venv"
rotel_bin() { compgen -G "$venv/lib/python3*/site-packages/rotel/rotel-agent" | head -n1; }

if [ -f "$dir/stamp" ] && [ "$(cat "$dir/stamp")" = "$want" ] && [ -x "$venv/bin/python" ] &&
  [ -x "$venv/bin/mlflow" ] && [ -n "$(rotel_bin)" ]; then
  echo "backends: already installed ($want) in $dir [$((SECONDS - start)) s]"
  exit 0
fi

echo "backends: installing $want into $dir"
mkdir -p "$dir"
rm -f "$dir/stamp" # a failed or partial install must not look complete

# 1. uv, pinned, in its own bootstrap venv (pip is the only thing assumed present).
if ! [ -x "$dir/uv/bin/uv" ] || [ "$("$dir/uv/bin/uv" --version | awk '{print $2}')" != "${UV_PIN#uv==}" ]; then
  python3 -m venv "$dir/uv"
  "$dir/uv/bin/python" -m pip install -q --disable-pip-version-check "$UV_PIN"
fi
uv="$dir/uv/bin/uv"

# 2. The backends venv. Never let uv try to download a Python: only the system python3 is usable here.
export UV_PYTHON_DOWNLOADS=never
[ -x "$venv/bin/python" ] || "$uv" venv -q --python python3 "$venv"
# --compile-bytecode matters: with PYTHONDONTWRITEBYTECODE=1 (set in this environment) nothing would ever
# cache .pyc files, and Phoenix would take ~20 s instead of ~12 s to start, every time.
VIRTUAL_ENV="$venv" "$uv" pip install -q --compile-bytecode "${PINS[@]}"

# 3. Sanity checks: the entry points the Node harness spawns exist and run.
"$venv/bin/python" -c 'import phoenix.server.main, grpc.aio._server' # phoenix_loopback.py imports these
[ -x "$venv/bin/mlflow" ] || { echo "backends: $venv/bin/mlflow missing" >&2; exit 1; }
rb="$(rotel_bin)"
[ -n "$rb" ] || { echo "backends: rotel-agent binary not found in the rotel wheel" >&2; exit 1; }
"$rb" --version >/dev/null

echo "$want" >"$dir/stamp"
echo "backends: installed in $((SECONDS - start)) s ($(du -sh "$dir" | cut -f1) in $dir)"
