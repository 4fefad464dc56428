"""Run a real canary worker script the way the launcher does, and parse what it prints."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field

from reprodiag import paths
from reprodiag.core.runs.config import RunConfig
from reprodiag.core.runs.protocol import (
    Done,
    EnvInfo,
    Hello,
    LogLine,
    Step,
    WorkerError,
    parse_line,
)

DATA_DIR = str(paths.data_file(""))
SCRIPTS = {"torch": "canary_torch.py", "tensorflow": "canary_tf.py"}
RUN_TIMEOUT_S = 300


@dataclass
class CanaryRun:
    """What one worker process said: its messages by type, exit code and stderr."""

    config: RunConfig
    returncode: int
    stderr: str
    messages: list = field(default_factory=list)

    def of(self, kind) -> list:
        return [m for m in self.messages if isinstance(m, kind)]

    @property
    def hello(self) -> Hello:
        return self.of(Hello)[0]

    @property
    def env(self) -> EnvInfo:
        return self.of(EnvInfo)[0]

    @property
    def steps(self) -> list[Step]:
        return self.of(Step)

    @property
    def done(self) -> Done:
        return self.of(Done)[0]

    @property
    def error(self) -> WorkerError:
        return self.of(WorkerError)[0]

    @property
    def raw_lines(self) -> list[LogLine]:
        """Lines that were not protocol messages (must be none: noise goes to stderr)."""
        return [m for m in self.of(LogLine) if m.level == "raw"]


def worker_command(config: RunConfig) -> tuple[list[str], dict[str, str]]:
    """argv and environment exactly as the launcher builds them."""
    script = paths.worker_script(SCRIPTS[config.framework])
    argv = [sys.executable, str(script), config.to_worker_json(DATA_DIR)]
    env = dict(os.environ)
    env.update(config.worker_environment())
    return argv, env


def run_canary(config: RunConfig) -> CanaryRun:
    argv, env = worker_command(config)
    proc = subprocess.run(argv, check=False, capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT_S)
    messages = [parse_line(line) for line in proc.stdout.splitlines()]
    return CanaryRun(config, proc.returncode, proc.stderr, messages)
