"""Runs a canary worker in a fresh process of the target Python and records what it says.

The worker gets its numerics environment variables before it starts (they only work if set
before the framework is imported) and runs in its own process group, so cancel, timeout
and exit end the whole tree: no orphans. A reader thread feeds each stdout line through
`protocol.parse_line` into the handle's RunRecord; stderr is kept (last lines) so a crash
can be explained in one line. An optional memory limit (POSIX) caps the worker's address
space, so a run that eats all memory fails with a reason instead of taking the machine down.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from reprodiag import paths
from reprodiag.core.env.frozen import original_environ
from reprodiag.core.env.interpreters import default_target
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.protocol import (
    MAX_LINE_CHARS,
    Done,
    LogLine,
    Message,
    WorkerError,
    parse_line,
)
from reprodiag.core.runs.record import CANCELLED, FAILED, RunRecord
from reprodiag.errors import UserError

log = logging.getLogger(__name__)

OnMessage = Callable[[RunRecord, Message], None]

WORKER_SCRIPTS = {"torch": "canary_torch.py", "tensorflow": "canary_tf.py"}
STDERR_LINES = 100
EXIT_GRACE_S = 10.0  # after `done`/`error`, how long a worker may take to exit before it is killed
READER_JOIN_S = 5.0
_POSIX = os.name == "posix"
# Run with the target python before the worker: sets RLIMIT_AS, then execs the worker in the
# same process (same pid, argv and environment). Not a preexec_fn: that is unsafe in a
# process with threads (the GUI, the launcher's own reader threads).
_LIMIT_MEMORY = (
    "import os, resource, sys\n"
    "n = int(sys.argv[1]); hard = resource.getrlimit(resource.RLIMIT_AS)[1]\n"
    "n = n if hard == resource.RLIM_INFINITY else min(n, hard)\n"
    "resource.setrlimit(resource.RLIMIT_AS, (n, hard))\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


def worker_for(framework: str) -> Path:
    """The worker script that trains with `framework` ("torch" or "tensorflow")."""
    try:
        return paths.worker_script(WORKER_SCRIPTS[framework])
    except KeyError:
        raise UserError(f"no worker for framework {framework!r}") from None


def worker_env(config: RunConfig) -> dict[str, str]:
    """A worker's environment: the user's (never the packaged app's own library paths, see
    core.env.frozen), the run's numerics variables, unbuffered output."""
    env = original_environ()
    env.update(config.worker_environment())
    env["PYTHONUNBUFFERED"] = "1"  # lines arrive as they are written
    return env


def start_run(
    config: RunConfig,
    python: str | None = None,
    *,
    on_message: OnMessage | None = None,
    timeout: float | None = None,
    label: str = "",
    script: Path | None = None,
    memory_limit_mb: int | None = None,
) -> RunHandle:
    """Start a worker for `config` with the target interpreter; returns at once.

    `memory_limit_mb` caps the worker's address space (POSIX only); note that importing a
    framework alone maps a few GiB of address space.
    """
    exe = _resolve_python(python or default_target())
    script = Path(script) if script is not None else worker_for(config.framework)
    if not script.is_file():
        raise UserError(f"worker script not found: {script}")
    env = worker_env(config)
    argv = [exe, str(script), config.to_worker_json(data_dir=str(paths.data_file("")))]
    if memory_limit_mb is not None:
        argv = _with_memory_limit(argv, memory_limit_mb)
    record = RunRecord(config=config, label=label, python=exe)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            **_new_group_kwargs(),
        )
    except OSError as exc:
        raise UserError(f"cannot start {exe}: {exc.strerror or exc}") from None
    record.start()
    return RunHandle(
        record, proc, on_message=on_message, timeout=timeout, memory_limit_mb=memory_limit_mb
    )


def run(
    config: RunConfig,
    python: str | None = None,
    *,
    on_message: OnMessage | None = None,
    timeout: float | None = None,
    label: str = "",
    script: Path | None = None,
    memory_limit_mb: int | None = None,
) -> RunRecord:
    """Start a run and wait for its end.

    Ctrl-C cancels the run, waits until its processes are gone, then lets the
    KeyboardInterrupt go on (so a caller running a series of configs stops too).
    """
    handle = start_run(
        config,
        python,
        on_message=on_message,
        timeout=timeout,
        label=label,
        script=script,
        memory_limit_mb=memory_limit_mb,
    )
    try:
        return handle.wait()
    except KeyboardInterrupt:
        handle.cancel()
        handle.wait()
        raise


def _resolve_python(python: str) -> str:
    found = python if os.sep in python or "/" in python else shutil.which(python)
    if not found or not os.path.isfile(found) or not os.access(found, os.X_OK):
        raise UserError(f"not an executable Python interpreter: {python}")
    return os.path.abspath(found)


def _with_memory_limit(argv: list[str], limit_mb: int) -> list[str]:
    if not _POSIX:
        raise UserError("a memory limit for runs needs Linux or macOS")
    if isinstance(limit_mb, bool) or not isinstance(limit_mb, int) or limit_mb < 1:
        raise UserError(f"memory limit must be a positive number of MiB, not {limit_mb!r}")
    return [argv[0], "-S", "-c", _LIMIT_MEMORY, str(limit_mb * 2**20), *argv]


def _new_group_kwargs() -> dict:
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


class RunHandle:
    """A running worker: its live `record`, `cancel()`, `wait()` and `done`."""

    def __init__(
        self,
        record: RunRecord,
        proc: subprocess.Popen,
        *,
        on_message: OnMessage | None = None,
        timeout: float | None = None,
        memory_limit_mb: int | None = None,
    ):
        self.record = record
        self._memory_limit_mb = memory_limit_mb
        self._proc = proc
        self._on_message = on_message
        self._lock = threading.RLock()  # guards the record and the process state
        self._done = threading.Event()
        self._reaped = False
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._timers: list[threading.Timer] = []
        self._readers = [
            self._thread(self._read_stdout, proc.stdout, "stdout"),
            self._thread(self._read_stderr, proc.stderr, "stderr"),
        ]
        _LIVE.add(self)
        if timeout is not None:
            self._after(timeout, self._time_out, timeout)
        self._thread(self._monitor, None, "monitor")

    # -- public -------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def done(self) -> bool:
        """True once the worker process is gone and the record has its final state."""
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> RunRecord:
        """Block until the run ends (or `timeout` seconds pass); returns the record."""
        self._done.wait(timeout)
        return self.record

    def cancel(self, grace: float = 3.0) -> None:
        """End the run as cancelled: SIGTERM the process tree now, SIGKILL after `grace` s.

        Returns at once; `wait()` to know the processes are gone.
        """
        with self._lock:
            if self._reaped:
                return
            self.record.finish(CANCELLED, "cancelled")
            self._signal_tree(terminate=True)
        self._after(grace, self._signal_tree)

    def stderr_tail(self) -> list[str]:
        """The last lines the worker wrote on stderr."""
        with self._lock:
            return list(self._stderr)

    # -- threads ------------------------------------------------------------------------

    def _thread(self, target, stream: IO[bytes] | None, name: str) -> threading.Thread:
        args = (stream,) if stream is not None else ()
        thread = threading.Thread(
            target=target, args=args, name=f"run-{self.record.run_id}-{name}", daemon=True
        )
        thread.start()
        return thread

    def _after(self, seconds: float, action, *args) -> None:
        timer = threading.Timer(max(0.0, seconds), action, args=args)
        timer.daemon = True
        with self._lock:
            if self._reaped:
                return
            self._timers.append(timer)
        timer.start()

    def _read_stdout(self, stream: IO[bytes]) -> None:
        for line in _bounded_lines(stream):
            self._deliver(parse_line(line))

    def _deliver(self, msg: Message) -> None:
        if isinstance(msg, LogLine) and not msg.message:
            return
        with self._lock:
            self.record.apply(msg)
        if isinstance(msg, (Done, WorkerError)):
            self._after(EXIT_GRACE_S, self._signal_tree)
        if self._on_message is not None:
            try:
                self._on_message(self.record, msg)
            except Exception:  # a broken callback must not stop the reading (or the worker)
                log.exception("on_message callback failed for run %s", self.record.run_id)

    def _read_stderr(self, stream: IO[bytes]) -> None:
        for line in _bounded_lines(stream):
            text = line.decode("utf-8", errors="replace").rstrip()
            with self._lock:
                self._stderr.append(text[:2000])

    def _monitor(self) -> None:
        _wait_for_exit(self._proc)
        with self._lock:
            self._signal_tree()  # leftover children; the unreaped leader keeps the group id
            self._proc.wait()
            self._reaped = True
            for timer in self._timers:
                timer.cancel()
        for reader in self._readers:
            reader.join(READER_JOIN_S)
        with self._lock:
            if not self.record.ended:
                reason = exit_reason(self._proc.returncode, list(self._stderr))
                self.record.finish(FAILED, reason)
                for text in list(self._stderr)[-20:]:
                    self.record.add_log(f"stderr: {text}")
            if self._memory_limit_mb is not None and self.record.status == FAILED:
                # whatever failed (a MemoryError, a library that could not be mapped) may be
                # the limit: say so in the one line the user reads
                self.record.reason += f" (under a {self._memory_limit_mb} MiB memory limit)"
        _LIVE.discard(self)
        self._done.set()

    def _time_out(self, seconds: float) -> None:
        with self._lock:
            if self._reaped:
                return
            self.record.finish(FAILED, f"timed out after {seconds:g} s")
            self._signal_tree()

    def _signal_tree(self, terminate: bool = False) -> None:
        """SIGTERM (terminate) or SIGKILL the worker's whole process group, if it is there."""
        with self._lock:
            if self._reaped:
                return  # the group id may belong to someone else now
            if _POSIX:
                try:
                    os.killpg(self._proc.pid, signal.SIGTERM if terminate else signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            else:
                _signal_tree_psutil(self._proc.pid, terminate)


def _bounded_lines(stream: IO[bytes]) -> Iterator[bytes]:
    """The stream's lines until EOF; an overlong line yields its head, its tail is dropped."""
    with stream:
        while line := stream.readline(MAX_LINE_CHARS + 1):
            rest = line
            while len(rest) > MAX_LINE_CHARS and not rest.endswith(b"\n"):
                rest = stream.readline(MAX_LINE_CHARS + 1)
            yield line


def _wait_for_exit(proc: subprocess.Popen) -> None:
    """Wait until the worker exits but leave it unreaped, so its group id stays reserved."""
    if hasattr(os, "waitid"):
        while True:
            try:
                os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
                return
            except InterruptedError:
                continue
            except ChildProcessError:
                return
    proc.wait()


def _signal_tree_psutil(pid: int, terminate: bool) -> None:
    import psutil

    try:
        parent = psutil.Process(pid)
        procs = [*parent.children(recursive=True), parent]
    except psutil.Error:
        return
    for proc in procs:
        try:
            if terminate:
                proc.terminate()
            else:
                proc.kill()
        except psutil.Error:
            pass


def exit_reason(returncode: int | None, stderr_lines: list[str]) -> str:
    """One line saying how a worker ended without `done`, with its last stderr line."""
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        head = f"worker killed by signal {name}"
    elif returncode == 0:
        head = "worker exited before finishing"
    else:
        head = f"worker exited with code {returncode}"
    detail = next((s.strip() for s in reversed(stderr_lines) if s.strip()), "")
    return f"{head}: {detail[:300]}" if detail else head


# Handles whose worker may still be running; killed if this process exits first.
_LIVE: set[RunHandle] = set()


@atexit.register
def _kill_live_workers() -> None:
    for handle in list(_LIVE):
        handle._signal_tree()
