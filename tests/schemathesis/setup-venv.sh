#!/usr/bin/env bash
# Creates (once) the Python virtualenv with schemathesis from PyPI, which the API fuzz test runs
# against the OpenAPI document. Idempotent: a venv whose `st` answers is left alone.
# Usage: setup-venv.sh [VENV_DIR]   (default: <repo>/target/schemathesis-venv; ST_VENV overrides)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd -P)"
venv="${1:-${ST_VENV:-$repo/target/schemathesis-venv}}"
venv="$(realpath -m "$venv")"
python="${PYTHON:-python3}"

if [ -x "$venv/bin/st" ] && "$venv/bin/st" --version >/dev/null 2>&1; then
    exit 0
fi

mkdir -p "$(dirname "$venv")"
rm -rf "$venv"
"$python" -m venv "$venv"
# Pinned: with hypothesis 6.170 on Python 3.11, schemathesis 4.32's coverage phase crashes inside
# hypothesis ("SystemError: AST constructor recursion depth mismatch" while describing a lambda);
# hypothesis 6.135 does not.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'schemathesis==4.32.5' 'hypothesis==6.135.33'
"$venv/bin/st" --version
