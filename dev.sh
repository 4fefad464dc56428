#!/usr/bin/env bash
# Set up reprodiag in ./.venv, then open the app (`./dev.sh app`), run every test (`./dev.sh test`)
# or only the fast tier: no real PyTorch/TensorFlow run, no slow test (`./dev.sh fast`).
# Needs Python >= 3.10 with venv. Safe to run again: an existing .venv is reused and updated.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=.venv

setup() {
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade "pip>=25.1"
  # setuptools warns about every editable install whose packages are not all under src/
  # (resources/ ships as reprodiag.resources); the warning is not about this project.
  PYTHONWARNINGS="ignore:Editable installation" \
    "$VENV/bin/python" -m pip install -q -e ".[gui,tensorflow]" "$@"
}

case "${1:-app}" in
  app)
    # torch: any build pip picks for this machine (CUDA on a GPU box); the app diagnoses it.
    setup "torch>=2.0"
    shift || true
    exec "$VENV/bin/reprodiag" "$@"
    ;;
  test|fast)
    # The tests pin the CPU build of torch 2.13.0 (small, and what the recorded facts were
    # measured with); override with REPRODIAG_TEST_TORCH="torch==X" if you need another.
    setup "${REPRODIAG_TEST_TORCH:-torch==2.13.0}"
    "$VENV/bin/python" -m pip install -q --group dev
    tier=$1
    shift || true
    export QT_QPA_PLATFORM=offscreen
    if [ "$tier" = fast ]; then
      exec "$VENV/bin/python" -m pytest -q -m "not framework and not slow" "$@"
    fi
    exec "$VENV/bin/python" -m pytest -q "$@"
    ;;
  *)
    echo "usage: ./dev.sh app [reprodiag args...] | ./dev.sh test|fast [pytest args...]" >&2
    exit 2
    ;;
esac
