"""Anonymisation for exports: user name, host name and home folder become placeholders.

Bundles and reports travel to public bug trackers; who ran them and on which machine is not
part of the evidence. `anonymise_text` replaces home folders with ``~``, user names with
``<user>`` and host names with ``<host>``; the snapshot and record variants apply it to every
string they hold. The names come from this machine (`local_identity`) and, for bundles made
elsewhere, from the snapshot itself (`snapshot_identity`); home folders in the usual places
(``/home/NAME``, ``/Users/NAME``, ``C:\\Users\\NAME``, ``/root``) are replaced whoever's they are.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import platform
import re
import socket
from collections.abc import Iterable
from typing import Any

from reprodiag.core.env.model import Fact, Snapshot
from reprodiag.core.env.variables import map_strings
from reprodiag.core.runs.record import RunRecord

HOME, USER, HOST = "~", "<user>", "<host>"

# Home folders in the places operating systems put them; group "name" is the user.
_NAME_CHARS = r"[^/\\\s:;,\"'<>|]"
_HOME_PATTERN = re.compile(
    rf"(?:(?<![\w.-])/(?:home|Users)/(?P<name>{_NAME_CHARS}+)"
    rf"|(?<![\w.\\/-])[A-Za-z]:[\\/]+Users[\\/]+(?P<winname>{_NAME_CHARS}+)"
    rf"|(?<![\w.-])/root(?!{_NAME_CHARS}))"
)
_NOT_NAMES = frozenset({"", "localhost", "localhost.localdomain", "root", "user", "home"})


@dataclasses.dataclass(frozen=True, kw_only=True)
class Identity:
    """Names to hide: user names, host names and home folders."""

    users: frozenset[str] = frozenset()
    hosts: frozenset[str] = frozenset()
    homes: frozenset[str] = frozenset()

    def __or__(self, other: Identity) -> Identity:
        return Identity(users=self.users | other.users, hosts=self.hosts | other.hosts,
                        homes=self.homes | other.homes)


def _clean(names: Iterable[str | None], minimum: int = 1) -> frozenset[str]:
    return frozenset(n for n in (str(x).strip() for x in names if x) if len(n) >= minimum)


def local_identity() -> Identity:
    """This machine's user name, host name and home folder (read now, not cached)."""
    users: list[str | None] = [os.environ.get(k) for k in ("USER", "LOGNAME", "USERNAME")]
    try:
        users.append(getpass.getuser())
    except (OSError, KeyError, ImportError):  # no user name can be found: nothing to hide
        pass
    hosts: list[str | None] = [socket.gethostname(), platform.node()]
    hosts += [h.split(".", 1)[0] for h in hosts if h]
    homes: list[str | None] = [os.path.expanduser("~"), os.environ.get("HOME"),
                               os.environ.get("USERPROFILE")]
    homes += [os.path.realpath(h) for h in homes if h]
    return Identity(users=_clean(users), hosts=_clean(hosts), homes=_homes(homes))


def _homes(paths: Iterable[str | None]) -> frozenset[str]:
    """Home folders worth replacing: never "/" or a drive root, which would hit every path."""
    out = set()
    for path in paths:
        path = str(path or "").rstrip("/\\")
        if len(path.strip("/\\")) >= 2 and not re.fullmatch(r"[A-Za-z]:", path):
            out.add(path)
    return frozenset(out)


def snapshot_identity(snapshot: Snapshot | None) -> Identity:
    """The host name a snapshot records, and the user names its paths reveal."""
    if snapshot is None:
        return Identity()
    hosts = [snapshot.value("host.hostname")]
    hosts = [h for h in hosts if isinstance(h, str)]
    hosts += [h.split(".", 1)[0] for h in hosts]
    users: list[str] = []
    for text in (snapshot.python, snapshot.value("host.python.executable")):
        if isinstance(text, str):
            for m in _HOME_PATTERN.finditer(text):
                users.append(m.group("name") or m.group("winname") or "")
    return Identity(users=_clean(users), hosts=_clean(hosts))


def _word(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])", re.IGNORECASE)


def anonymise_text(text: str, identity: Identity | None = None) -> str:
    """`text` with home folders, user names and host names replaced by placeholders.

    Without `identity`, this machine's names are hidden (plus home folders in the usual
    places). Names of one character are replaced only where they are the whole text; "root"
    and "localhost" name nobody and are kept.
    """
    identity = local_identity() if identity is None else identity
    for home in sorted(identity.homes, key=len, reverse=True):
        text = re.sub(rf"(?<![\w.-]){re.escape(home)}(?![\w.-])", HOME, text)
    text = _HOME_PATTERN.sub(HOME, text)
    for names, placeholder in ((identity.hosts, HOST), (identity.users, USER)):
        for name in sorted(names - _NOT_NAMES, key=len, reverse=True):
            if text == name:
                return placeholder
            if len(name) >= 2:
                text = _word(name).sub(placeholder, text)
    return text


def anonymise_value(value: Any, identity: Identity | None = None) -> Any:
    """A JSON-like value with every string in it anonymised."""
    identity = local_identity() if identity is None else identity
    return map_strings(value, lambda text: anonymise_text(text, identity))


def anonymise_snapshot(snapshot: Snapshot, identity: Identity | None = None) -> Snapshot:
    """A copy of the snapshot with every fact value (and its interpreter path) anonymised."""
    identity = (local_identity() if identity is None else identity) | snapshot_identity(snapshot)
    facts = {
        key: Fact(value=anonymise_value(f.value, identity)) if f.ok
        else Fact(unavailable=anonymise_text(f.unavailable or "", identity))
        for key, f in snapshot.facts.items()
    }
    return dataclasses.replace(snapshot, facts=facts,
                               python=anonymise_text(snapshot.python, identity))


def anonymise_record(record: RunRecord, identity: Identity | None = None) -> RunRecord:
    """A copy of a RunRecord with its label, interpreter path, settings, log and reason
    anonymised (steps, hashes and the config hold no names)."""
    identity = local_identity() if identity is None else identity
    text = lambda s: anonymise_text(s, identity)  # noqa: E731
    return dataclasses.replace(
        record,
        label=text(record.label),
        python=text(record.python),
        worker=text(record.worker),
        reason=text(record.reason),
        settings=anonymise_value(record.settings, identity),
        summary=anonymise_value(record.summary, identity),
        log=[text(line) for line in record.log],
    )


def anonymise_bundle_parts(
    snapshot: Snapshot | None, runs: list[RunRecord], label: str
) -> tuple[Snapshot | None, list[RunRecord], str]:
    """What the bundle writer stores when asked to anonymise: all three, with the names of
    this machine and of the snapshot hidden."""
    identity = local_identity() | snapshot_identity(snapshot)
    return (
        anonymise_snapshot(snapshot, identity) if snapshot is not None else None,
        [anonymise_record(run, identity) for run in runs],
        anonymise_text(label, identity),
    )


def anonymise_report(report: Any, *snapshots: Snapshot | None) -> Any:
    """A rendered report (text, or the JSON-like value of a JSON report) with the names of
    this machine and of every compared snapshot hidden."""
    identity = local_identity()
    for snapshot in snapshots:
        identity = identity | snapshot_identity(snapshot)
    return anonymise_value(report, identity)
