"""The run library: finished runs kept on disk, one single-run bundle file per run.

Each run is stored as `<root>/<run_id>.reprodiag.zip`, a bundle holding just that run, so it
is written atomically, read back through the validating reader, and can be sent to someone
as is. Unreadable entries are skipped and reported in `problems`, never fatal.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs

from reprodiag.core.bundle import SUFFIX, read_bundle, write_bundle
from reprodiag.core.bundle.serialize import check_run_id
from reprodiag.core.runs.record import RunRecord
from reprodiag.errors import BundleError, UserError


def default_root() -> Path:
    """Where runs are kept unless told otherwise (the user's data folder)."""
    return Path(platformdirs.user_data_dir("reprodiag")) / "runs"


class RunLibrary:
    """Runs saved on disk: save, list (newest first), load, delete."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else default_root()
        self.problems: list[str] = []  # one line per entry the last list() could not read

    def path_for(self, run_id: str) -> Path:
        try:
            return self.root / f"{check_run_id(run_id)}{SUFFIX}"
        except ValueError as exc:
            raise UserError(str(exc)) from None

    def save(self, record: RunRecord) -> Path:
        """Store (or replace) a run; atomic, so a crash never leaves half a file."""
        path = self.path_for(record.run_id)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create run library {self.root}: {exc.strerror}") from None
        return write_bundle(path, snapshot=None, runs=[record], label=record.label)

    def list(self) -> list[RunRecord]:
        """All readable runs, newest first; unreadable files are listed in `problems`."""
        self.problems = []
        records: list[RunRecord] = []
        if not self.root.is_dir():
            return records
        for path in sorted(self.root.glob(f"*{SUFFIX}")):
            if path.name.startswith("."):
                continue  # an atomic write in progress
            try:
                records.append(self._read(path, path.name[: -len(SUFFIX)]))
            except UserError as exc:
                self.problems.append(str(exc))
        records.sort(key=lambda r: (r.started_at or 0.0, r.run_id), reverse=True)
        return records

    def load(self, run_id: str) -> RunRecord:
        path = self.path_for(run_id)
        if not path.is_file():
            raise UserError(f"no run {run_id!r} in the run library {self.root}")
        return self._read(path, run_id)

    def delete(self, run_id: str) -> None:
        path = self.path_for(run_id)
        try:
            path.unlink()
        except FileNotFoundError:
            raise UserError(f"no run {run_id!r} in the run library {self.root}") from None
        except OSError as exc:
            raise UserError(f"cannot delete {path}: {exc.strerror}") from None

    @staticmethod
    def _read(path: Path, run_id: str) -> RunRecord:
        bundle = read_bundle(path)
        if len(bundle.runs) != 1 or bundle.runs[0].run_id != run_id:
            raise BundleError(path, f"expected exactly the run {run_id!r}")
        return bundle.runs[0]
