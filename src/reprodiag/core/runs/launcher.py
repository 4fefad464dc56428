"""The one way reprodiag starts a process of the target Python: canary runs (from the CLI,
the window, attribution reruns) and the environment and deep probes.

Every worker runs in its own process group with the user's environment (never the packaged
app's own library paths, see core.env.frozen), so cancel, timeout and exit end the whole
tree: no orphans. Cancel = SIGTERM to the group, then SIGKILL after a grace period. A reader
thread hands on each stdout line as it arrives; stderr is kept (last lines) so a crash can
be explained in one line. An optional memory limit (POSIX) caps the worker's address space,
so a run that eats all memory fails with a reason instead of taking the machine down.

A canary's lines go through `protocol.parse_line` into its RunRecord under the record's
lock, so a view may read the record (holding the lock) while the reader thread appends.
The record and config modules (pydantic) are imported when a run starts, not with this
module: a capture's probes start here too.
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
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING

from reprodiag import paths
from reprodiag.core.env.frozen import original_environ
from reprodiag.core.env.interpreters import default_target
from reprodiag.core.runs.protocol import MAX_LINE_CHARS, LogLine, Message, parse_line
from reprodiag.errors import UserError

if TYPE_CHECKING:
    from reprodiag.core.runs.config import RunConfig
    from reprodiag.core.runs.record import RunRecord

log = logging.getLogger(__name__)

OnMessage = Callable[["RunRecord", Message], None]
OnEnd = Callable[["RunRecord"], None]

WORKER_SCRIPTS = {"torch": "canary_torch.py", "tensorflow": "canary_tf.py"}
STDERR_LINES = 100
STDOUT_LINES = 100  # kept by a worker without a line callback (a probe's result is its last)
CANCEL_GRACE_S = 3.0  # after SIGTERM, how long the group has before SIGKILL
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


class Worker:
    """One worker process in its own process group: stdout lines to `on_line` (or kept, the
    last STDOUT_LINES), the stderr tail, timeout, cancel and kill; `done` once it is gone.

    `extra_env` is laid over the user's original environment. `on_line` returns True when
    the worker has said its last: it is then killed unless it exits within EXIT_GRACE_S.
    `on_timeout(seconds)` runs
    before a timed-out worker is killed, `on_exit(worker)` once it is reaped and its output
    read (both hold `lock`, which callers may share to make their own state change with the
    process's). Raises UserError when the process cannot be started.
    """

    def __init__(
        self,
        argv: list[str],
        *,
        extra_env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        memory_limit_mb: int | None = None,
        on_line: Callable[[bytes], bool] | None = None,
        on_timeout: Callable[[float], None] | None = None,
        on_exit: Callable[[Worker], None] | None = None,
        lock: threading.RLock | None = None,
        name: str = "worker",
    ):
        if memory_limit_mb is not None:
            argv = _with_memory_limit(argv, memory_limit_mb)
        env = original_environ()
        env.update(extra_env or {})
        self.memory_limit_mb = memory_limit_mb
        self.name = name
        self.timed_out: float | None = None  # the timeout, once it expired
        self.cancelled = False
        self.lock = lock if lock is not None else threading.RLock()
        self._on_line = on_line
        self._on_timeout = on_timeout
        self._on_exit = on_exit
        self._done = threading.Event()
        self._reaped = False
        self._stdout: collections.deque[bytes] = collections.deque(maxlen=STDOUT_LINES)
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._timers: list[threading.Timer] = []
        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                **_new_group_kwargs(),
            )
        except OSError as exc:
            raise UserError(f"cannot start {argv[0]}: {exc.strerror or exc}") from None
        assert self._proc.stdout is not None and self._proc.stderr is not None
        _LIVE.add(self)
        self._readers = [
            self._thread(self._read_stdout, self._proc.stdout, "stdout"),
            self._thread(self._read_stderr, self._proc.stderr, "stderr"),
        ]
        if timeout is not None:
            self._after(timeout, self._time_out, timeout)
        self._thread(self._monitor, None, "monitor")

    # -- public -------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        """The exit status once reaped (negative: killed by that signal)."""
        return self._proc.returncode

    @property
    def done(self) -> bool:
        """True once the process is gone, its output read and `on_exit` has run."""
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker is done (or `timeout` seconds pass); returns `done`."""
        return self._done.wait(timeout)

    def cancel(self, grace: float = CANCEL_GRACE_S) -> bool:
        """SIGTERM the process group now, SIGKILL it after `grace` s; False when the worker
        was already gone. Returns at once: `wait()` to know the processes are gone."""
        with self.lock:
            if self._reaped:
                return False
            self.cancelled = True
            self._signal(terminate=True)
        self.kill_after(grace)
        return True

    def kill(self) -> None:
        """SIGKILL the process group now."""
        self._signal(terminate=False)

    def kill_after(self, seconds: float) -> None:
        self._after(seconds, self._signal, False)

    def stderr_tail(self) -> list[str]:
        """The last lines the worker wrote on stderr."""
        with self.lock:
            return list(self._stderr)

    def stdout_tail(self) -> list[bytes]:
        """The last stdout lines (only kept without an `on_line` callback)."""
        with self.lock:
            return list(self._stdout)

    def exit_reason(self) -> str:
        return exit_reason(self.returncode, self.stderr_tail())

    # -- threads ------------------------------------------------------------------------

    def _thread(self, target, stream: IO[bytes] | None, name: str) -> threading.Thread:
        args = (stream,) if stream is not None else ()
        thread = threading.Thread(target=target, args=args, name=f"{self.name}-{name}",
                                  daemon=True)
        thread.start()
        return thread

    def _after(self, seconds: float, action, *args) -> None:
        timer = threading.Timer(max(0.0, seconds), action, args=args)
        timer.daemon = True
        with self.lock:
            if self._reaped:
                return
            self._timers.append(timer)
        timer.start()

    def _read_stdout(self, stream: IO[bytes]) -> None:
        for line in _bounded_lines(stream):
            if self._on_line is None:
                with self.lock:
                    self._stdout.append(line)
                continue
            try:
                last = self._on_line(line)
            except Exception:  # a broken callback must not stop the reading (or the worker)
                log.exception("line callback failed for %s", self.name)
                continue
            if last:
                self.kill_after(EXIT_GRACE_S)

    def _read_stderr(self, stream: IO[bytes]) -> None:
        for line in _bounded_lines(stream):
            text = line.decode("utf-8", errors="replace").rstrip()
            with self.lock:
                self._stderr.append(text[:2000])

    def _monitor(self) -> None:
        _wait_for_exit(self._proc)
        with self.lock:
            self._signal(terminate=False)  # leftover children; the unreaped leader keeps the group id
            self._proc.wait()
            self._reaped = True
            for timer in self._timers:
                timer.cancel()
        for reader in self._readers:
            reader.join(READER_JOIN_S)
        try:
            if self._on_exit is not None:
                self._on_exit(self)
        except Exception:
            log.exception("exit callback failed for %s", self.name)
        finally:
            _LIVE.discard(self)
            self._done.set()

    def _time_out(self, seconds: float) -> None:
        with self.lock:
            if self._reaped:
                return
            self.timed_out = seconds
            if self._on_timeout is not None:
                self._on_timeout(seconds)
            self._signal(terminate=False)

    def _signal(self, terminate: bool) -> None:
        """SIGTERM (terminate) or SIGKILL the worker's whole process group, if it is there."""
        with self.lock:
            if self._reaped:
                return  # the group id may belong to someone else now
            if _POSIX:
                try:
                    os.killpg(self._proc.pid, signal.SIGTERM if terminate else signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            else:
                _signal_tree_psutil(self._proc.pid, terminate)


def worker_for(framework: str) -> Path:
    """The worker script that trains with `framework` ("torch" or "tensorflow")."""
    try:
        return paths.worker_script(WORKER_SCRIPTS[framework])
    except KeyError:
        raise UserError(f"no worker for framework {framework!r}") from None


def run_variables(config: RunConfig) -> dict[str, str]:
    """What a canary worker gets over the user's environment: the run's numerics variables
    (they act only when set before the framework is imported), unbuffered output."""
    return {**config.worker_environment(), "PYTHONUNBUFFERED": "1"}


def start_run(
    config: RunConfig,
    python: str | None = None,
    *,
    on_message: OnMessage | None = None,
    on_end: OnEnd | None = None,
    timeout: float | None = None,
    label: str = "",
    script: Path | None = None,
    memory_limit_mb: int | None = None,
    record: RunRecord | None = None,
) -> RunHandle:
    """Start a canary worker for `config` with the target interpreter; returns at once.

    `record` is the (pending) record to fill, else a new one is made. `on_message(record,
    msg)` is called on the reader thread after each line is applied; `on_end(record)` on the
    monitor thread once the worker is gone and the record final. `memory_limit_mb` caps the
    worker's address space (POSIX only); importing a framework alone maps a few GiB of it.
    """
    exe = _resolve_python(python or default_target())
    script = Path(script) if script is not None else worker_for(config.framework)
    if not script.is_file():
        raise UserError(f"worker script not found: {script}")
    if record is None:
        from reprodiag.core.runs.record import RunRecord

        record = RunRecord(config=config, label=label)
    record.python = exe
    argv = [exe, str(script), config.to_worker_json(data_dir=str(paths.data_file("")))]
    return RunHandle(record, argv, extra_env=run_variables(config), on_message=on_message,
                     on_end=on_end, timeout=timeout, memory_limit_mb=memory_limit_mb)


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
    """A running canary: its live `record`, `cancel()`, `wait()` and `done`.

    The record is changed only under `record.lock` (the worker's lock too), so the worker's
    end, a cancel and a timeout cannot cross: the first ending wins.
    """

    def __init__(
        self,
        record: RunRecord,
        argv: list[str],
        *,
        extra_env: Mapping[str, str],
        on_message: OnMessage | None = None,
        on_end: OnEnd | None = None,
        timeout: float | None = None,
        memory_limit_mb: int | None = None,
    ):
        self.record = record
        self._on_message = on_message
        self._on_end = on_end
        record.start()
        self.worker = Worker(argv, extra_env=extra_env, timeout=timeout,
                             memory_limit_mb=memory_limit_mb, on_line=self._line,
                             on_timeout=self._timed_out, on_exit=self._exited,
                             lock=record.lock, name=f"run-{record.run_id}")

    @property
    def pid(self) -> int:
        return self.worker.pid

    @property
    def done(self) -> bool:
        """True once the worker process is gone and the record has its final state."""
        return self.worker.done

    def wait(self, timeout: float | None = None) -> RunRecord:
        """Block until the run ends (or `timeout` seconds pass); returns the record."""
        self.worker.wait(timeout)
        return self.record

    def cancel(self, grace: float = CANCEL_GRACE_S) -> None:
        """End the run as cancelled: SIGTERM the process tree now, SIGKILL after `grace` s.

        The steps recorded so far are kept. Returns at once; `wait()` to know the processes
        are gone.
        """
        from reprodiag.core.runs.record import CANCELLED

        with self.record.lock:
            if self.worker.cancel(grace):
                self.record.finish(CANCELLED, "cancelled")

    def stderr_tail(self) -> list[str]:
        """The last lines the worker wrote on stderr."""
        return self.worker.stderr_tail()

    def _line(self, line: bytes) -> bool:
        """Apply one line; True after `done` or `error` (the worker has said its last)."""
        msg = parse_line(line)
        if isinstance(msg, LogLine) and not msg.message:
            return False
        with self.record.lock:
            was_ended = self.record.ended
            self.record.apply(msg)
            last = self.record.ended and not was_ended
        if self._on_message is not None:
            try:
                self._on_message(self.record, msg)
            except Exception:  # a broken callback must not stop the reading (or the worker)
                log.exception("on_message callback failed for run %s", self.record.run_id)
        return last

    def _timed_out(self, seconds: float) -> None:
        from reprodiag.core.runs.record import FAILED

        self.record.finish(FAILED, f"timed out after {seconds:g} s")

    def _exited(self, worker: Worker) -> None:
        from reprodiag.core.runs.record import FAILED

        with self.record.lock:
            if not self.record.ended:
                self.record.finish(FAILED, worker.exit_reason())
                for text in worker.stderr_tail()[-20:]:
                    self.record.add_log(f"stderr: {text}")
            if worker.memory_limit_mb is not None and self.record.status == FAILED:
                # whatever failed (a MemoryError, a library that could not be mapped) may be
                # the limit: say so in the one line the user reads
                self.record.reason += f" (under a {worker.memory_limit_mb} MiB memory limit)"
        if self._on_end is not None:
            self._on_end(self.record)


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


# Workers that may still be running; killed if this process exits first.
_LIVE: set[Worker] = set()


@atexit.register
def _kill_live_workers() -> None:
    for worker in list(_LIVE):
        worker.kill()
