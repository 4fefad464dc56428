"""Render the SVG app icon to the PNG sizes desktops and PyInstaller want.

Run from the repository root: `.venv/bin/python packaging/render_icons.py`. Uses PySide6's
QSvgRenderer (in PySide6-Essentials); the PNGs are committed, so a build does not need this.
"""

from __future__ import annotations

import sys
from pathlib import Path

APP_ID = "io.github.reprodiag.Reprodiag"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"


def render(svg: Path, size: int, out: Path) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    if not image.save(str(out), "PNG"):
        raise SystemExit(f"cannot write {out}")


def main() -> int:
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 - fonts, plugins
    svg = ICONS / f"{APP_ID}.svg"
    for size in SIZES:
        out = ICONS / f"{APP_ID}-{size}.png"
        render(svg, size, out)
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
