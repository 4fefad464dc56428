#!/usr/bin/env bash
# Build the reprodiag desktop app as one folder with PyInstaller: dist/reprodiag/reprodiag.
#
#   packaging/build.sh                 # uses .venv/bin/python of the repository
#   PYTHON=/path/to/python DIST_DIR=/tmp/dist WORK_DIR=/tmp/build packaging/build.sh
#
# The Python used needs reprodiag's core and GUI dependencies (pip install -e ".[gui]");
# PyInstaller is installed into it when missing. torch and tensorflow are not bundled.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
DIST_DIR="${DIST_DIR:-$ROOT/dist}"
WORK_DIR="${WORK_DIR:-$ROOT/build/pyinstaller}"

if ! "$PYTHON" -c "import PySide6, pyqtgraph" 2>/dev/null; then
    echo "build.sh: $PYTHON lacks the GUI dependencies; run: pip install -e '.[gui]'" >&2
    exit 2
fi
if ! "$PYTHON" -c "import PyInstaller" 2>/dev/null; then
    echo "build.sh: installing PyInstaller into $PYTHON"
    "$PYTHON" -m pip install --quiet "pyinstaller>=6.0"
fi

"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$DIST_DIR" --workpath "$WORK_DIR" "$ROOT/packaging/reprodiag.spec"

"$DIST_DIR/reprodiag/reprodiag" --version
echo "build.sh: built $DIST_DIR/reprodiag/ ($(du -sh "$DIST_DIR/reprodiag" | cut -f1))"
