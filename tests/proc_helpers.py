"""Helpers for tests that start worker processes: which children they logged, and whether
every one of them is gone."""

import time

import psutil


def child_pids(record) -> list[int]:
    """Pids a test worker reported with a `child <pid>` log line."""
    return [int(line.split()[1]) for line in record.log if line.startswith("child ")]


def assert_gone(pids: list[int], what: str = "process") -> None:
    """Every pid has exited within 20 s (a zombie waiting for its reaper counts as gone)."""
    deadline = time.monotonic() + 20
    for pid in pids:
        while True:
            try:
                if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.NoSuchProcess:
                break
            assert time.monotonic() < deadline, f"{what} {pid} is still alive"
            time.sleep(0.05)
