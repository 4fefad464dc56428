"""The fix snippets are real: every torch and TensorFlow snippet (and each framework's
determinism block) runs in a fresh interpreter with that framework, with its variables set;
canary commands parse back to their config; pip lines pin the right index."""

import os
import subprocess
import sys

import pytest

from reprodiag.core.knowledge import fixes as fx
from reprodiag.core.runs.config import RunConfig

pytestmark = pytest.mark.slow


def all_snippets(framework: str) -> list[fx.Fix]:
    """Every snippet for `framework`, in an order a single process can run them in: thread
    counts and device visibility first (they must precede the first op), draws last."""
    both = [framework]
    out = [*fx.onednn_fixes(both), *fx.thread_fixes(both, 1), *fx.device_fixes(both, "cpu"),
           *fx.determinism_fixes(both), *fx.autotune_fixes(both), *fx.tf32_fixes(both),
           *fx.seed_fixes(both, 3), *fx.dtype_fixes(both, "float64"),
           *fx.dtype_fixes(both, "float32"), *fx.isa_fixes(both, "avx2"),
           *fx.device_fixes(both, "gpu"), *fx.rng_device_fixes(both),
           *fx.data_order_fixes(both, 3)]
    return [f for f in out if f.framework == framework and f.code]


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2", **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=full_env, timeout=300)


def snippet_program(snippets: list[str]) -> str:
    """Each snippet exec'd in its own namespace, in order, then a marker line."""
    return "\n".join(f"exec({code!r}, {{}})" for code in snippets) + "\nprint('all ran')\n"


@pytest.mark.framework
@pytest.mark.parametrize("framework", ["torch", "tensorflow"])
def test_every_fix_snippet_runs_with_the_real_framework(framework):
    fixes = all_snippets(framework)
    assert len(fixes) >= 8
    env = {}
    for f in fixes:
        env.update(f.env)
    env.pop("CUDA_VISIBLE_DEVICES", None)
    proc = run_python(snippet_program([f.code for f in fixes]), env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("all ran")


@pytest.mark.framework
@pytest.mark.parametrize("framework", ["torch", "tensorflow"])
def test_determinism_block_runs_and_takes_effect(framework):
    block = fx.determinism_block(framework, seed=0, threads=1, tf32=False, onednn=False)
    if framework == "torch":
        check = ("assert torch.are_deterministic_algorithms_enabled()\n"
                 "assert torch.get_num_threads() == 1\n"
                 "assert not torch.backends.cuda.matmul.allow_tf32\n"
                 "assert os.environ['CUBLAS_WORKSPACE_CONFIG'] == ':4096:8'\n")
    else:
        check = ("from tensorflow.python.framework import config\n"
                 "assert config.is_op_determinism_enabled()\n"
                 "assert not tf.config.experimental.tensor_float_32_execution_enabled()\n"
                 "assert tf.config.threading.get_intra_op_parallelism_threads() == 1\n"
                 "from tensorflow.python.util import _pywrap_util_port\n"
                 "assert not _pywrap_util_port.IsMklEnabled()\n")
    proc = run_python(block + check + "print('in force')\n", {})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("in force")


def test_tensorflow_determinism_follows_the_version():
    assert fx.tf_determinism("2.15.0")[0].endswith("enable_op_determinism()\n")
    assert fx.tf_determinism("2.7.1")[:2] == ("", {"TF_DETERMINISTIC_OPS": "1"})
    assert fx.tf_determinism("1.15.5")[:2] == ("", {"TF_CUDNN_DETERMINISTIC": "1"})
    old = fx.determinism_block("tensorflow", tf_version="2.6.0", onednn=None)
    assert 'os.environ["TF_DETERMINISTIC_OPS"] = "1"' in old
    assert "enable_op_determinism" not in old


@pytest.mark.parametrize("config", [
    RunConfig(),
    RunConfig(framework="tensorflow", model="cnn", seed=None, threads=2, deterministic=True,
              onednn=False, dtype="float64", shuffle=False, augment=True, tf32=True),
    RunConfig(device="gpu", steps=7, batch_size=8, lr=0.01, optimizer="adam", onednn=True),
])
def test_canary_command_parses_back_to_its_config(config):
    from reprodiag import cli

    words = fx.canary_command(config).split()
    assert words[:2] == ["reprodiag", "run"]
    args = cli.build_parser().parse_args(words[1:])
    assert cli.configs_from_args(args) == [config]


def test_a_fix_writes_the_setting_it_changes_even_when_that_is_the_default():
    """'Rerun B with A's optimizer (sgd)' names --optimizer sgd, not a bare command."""
    from reprodiag import cli

    fix = fx.canary_fix(RunConfig(optimizer="adam", steps=150), {"optimizer": "sgd"}, "b")
    assert "--optimizer sgd" in fix.code and "--steps 150" in fix.code
    off = fx.canary_fix(RunConfig(deterministic=True), {"deterministic": False}, "b")
    assert "--no-deterministic" in off.code
    args = cli.build_parser().parse_args(off.code.split()[1:])
    assert cli.configs_from_args(args) == [RunConfig()]


def test_pip_lines_pin_versions_and_use_pytorchs_index_for_local_builds():
    lines = fx.pip_install_lines({"numpy": "1.26.4", "torch": "2.3.0+cu121",
                                  "torchvision": "0.18.0+cu121", "torchaudio": "2.3.0+cpu",
                                  "keras": "3.3.3"})
    assert lines == [
        'pip install "keras==3.3.3" "numpy==1.26.4"',
        'pip install "torchaudio==2.3.0+cpu" --index-url https://download.pytorch.org/whl/cpu',
        'pip install "torch==2.3.0+cu121" "torchvision==0.18.0+cu121" '
        "--index-url https://download.pytorch.org/whl/cu121",
    ]
    assert fx.pip_install_lines({}) == []


def test_recorded_user_training_gets_no_canary_rerun_command():
    from reprodiag.core.knowledge.fixes import canary_fixes
    from reprodiag.core.runs.config import RunConfig

    assert canary_fixes(RunConfig(model="custom"), {"threads": 1}, "b") == []
    [fix] = canary_fixes(RunConfig(model="mlp"), {"threads": 1}, "b")
    assert "--threads 1" in fix.code and fix.rerun_config_changes == {"threads": 1}
