#!/usr/bin/env bash
# Creates (once) the Python virtualenv with the real `celery` package that the Celery interop
# tests drive. Idempotent: a venv that already imports celery 5 is left alone.
# Usage: setup-venv.sh [VENV_DIR]   (default: <repo>/target/celery-venv; CELERY_VENV overrides)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../../.." && pwd -P)"
venv="${1:-${CELERY_VENV:-$repo/target/celery-venv}}"
# One physical path for every step below (a path through a symlink and `..` would otherwise
# mean different directories to the shell and to Python).
venv="$(realpath -m "$venv")"
python="${PYTHON:-python3}"

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import celery, sys; sys.exit(0 if celery.VERSION[0] == 5 else 1)' 2>/dev/null; then
    exit 0
fi

mkdir -p "$(dirname "$venv")"
# A half-made venv from an interrupted run is rebuilt from scratch.
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'celery==5.*'
"$venv/bin/python" -c 'import celery; print("celery", celery.__version__, "ready in '"$venv"'")'
