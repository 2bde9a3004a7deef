#!/usr/bin/env bash
# Creates (once) the Python virtualenv with the Prometheus project's Python client from PyPI,
# whose text-format and OpenMetrics parsers the /metrics test (tests/metrics_endpoints.rs) runs
# on every daemon's scrape. Idempotent: a venv whose parser imports is left alone.
# Usage: setup-venv.sh [VENV_DIR]   (default: <repo>/target/prometheus-venv; PROM_VENV overrides)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd -P)"
venv="${1:-${PROM_VENV:-$repo/target/prometheus-venv}}"
venv="$(realpath -m "$venv")"
python="${PYTHON:-python3}"
check='import prometheus_client.parser, prometheus_client.openmetrics.parser'

mkdir -p "$(dirname "$venv")"
# Test runners start one process per test: the first sets the venv up, the others wait here.
exec 9>"$venv.lock"
flock 9

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$check" >/dev/null 2>&1; then
    exit 0
fi

rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'prometheus-client>=0.20,<1'
"$venv/bin/python" -c "$check"
