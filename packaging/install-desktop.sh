#!/usr/bin/env bash
# Install reprodiag's desktop integration for this user (Linux): the desktop entry, the MIME
# type of run bundles (*.reprodiag.zip, so file managers open them with reprodiag), the
# AppStream metainfo and the icons, under ${XDG_DATA_HOME:-~/.local/share}; then refresh the
# MIME and desktop-entry databases.
#
#   packaging/install-desktop.sh                                   # this checkout's resources/
#   RESOURCES=dist/reprodiag/_internal/reprodiag/resources packaging/install-desktop.sh
#
# The entry runs `reprodiag gui FILE...`: put reprodiag on the PATH (pip does; for the frozen
# app: ln -s "$PWD/dist/reprodiag/reprodiag" ~/.local/bin/reprodiag).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RESOURCES="${RESOURCES:-$ROOT/resources}"
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"

entries=("$RESOURCES"/*.desktop)
if [ ${#entries[@]} -ne 1 ] || [ ! -f "${entries[0]}" ]; then
    echo "install-desktop.sh: $RESOURCES has no desktop entry (one *.desktop file)" >&2
    exit 2
fi
APP_ID="$(basename "${entries[0]}" .desktop)"  # the one reverse-DNS id every file is named by

install -D -m 644 "$RESOURCES/$APP_ID.desktop" "$DATA/applications/$APP_ID.desktop"
install -D -m 644 "$RESOURCES/$APP_ID.mime.xml" "$DATA/mime/packages/$APP_ID.xml"
install -D -m 644 "$RESOURCES/$APP_ID.metainfo.xml" "$DATA/metainfo/$APP_ID.metainfo.xml"
install -D -m 644 "$RESOURCES/icons/$APP_ID.svg" "$DATA/icons/hicolor/scalable/apps/$APP_ID.svg"
for png in "$RESOURCES/icons/$APP_ID"-*.png; do
    size="${png##*-}"
    size="${size%.png}"
    install -D -m 644 "$png" "$DATA/icons/hicolor/${size}x${size}/apps/$APP_ID.png"
done

if command -v update-mime-database >/dev/null; then
    update-mime-database "$DATA/mime"
else
    echo "install-desktop.sh: update-mime-database not found (package shared-mime-info):" \
         "bundles open with reprodiag after the next MIME database update" >&2
fi
if command -v update-desktop-database >/dev/null; then
    update-desktop-database "$DATA/applications"
fi
echo "install-desktop.sh: installed $APP_ID into $DATA"
