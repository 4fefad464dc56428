"""Deep TensorFlow facts: the settings in force once tensorflow is imported here.

Run BY PATH with the target interpreter, in its own process; prints one JSON line
``{"probe": "tensorflow", "installed": bool, "facts": {...}}`` (see env_probe.emit). Keys:
``numerics.tensorflow.*`` -- op determinism, TF32, oneDNN as TF reports it, intra/inter-op
threads; ``framework.tensorflow.*`` -- visible physical devices and each GPU's name and
compute capability, CUDA/XLA build flags.
"""

import importlib.util
import os
import sys

import env_probe as ep

N = "numerics.tensorflow."
F = "framework.tensorflow."


def _op_determinism():
    from tensorflow.python.framework import config

    return bool(config.is_op_determinism_enabled())


def _onednn_enabled():
    """What TF decided for oneDNN (TF_ENABLE_ONEDNN_OPTS and the CPU's default)."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def _xla_built():
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsBuiltWithXLA())


def numerics_facts(tf):
    threading = tf.config.threading
    readers = {
        "op_determinism": _op_determinism,
        "tf32": lambda: bool(tf.config.experimental.tensor_float_32_execution_enabled()),
        "onednn": _onednn_enabled,
        "intra_op_threads": threading.get_intra_op_parallelism_threads,
        "inter_op_threads": threading.get_inter_op_parallelism_threads,
    }
    return {N + key: ep.guarded(read) for key, read in readers.items()}


def device_facts(tf):
    facts = {
        F + "devices": ep.guarded(
            lambda: [d.name.replace("/physical_device:", "")
                     for d in tf.config.list_physical_devices()]
        ),
        F + "built_with_cuda": ep.guarded(lambda: bool(tf.test.is_built_with_cuda())),
        F + "built_with_xla": ep.guarded(_xla_built),
    }
    gpus = ep.guarded(lambda: tf.config.list_physical_devices("GPU"))
    if "unavailable" in gpus:
        facts[F + "gpu"] = gpus
        return facts
    for i, gpu in enumerate(gpus["value"]):
        p = f"{F}gpu.{i}."
        details = ep.guarded(lambda gpu=gpu: tf.config.experimental.get_device_details(gpu))
        info = details.get("value") or {}
        facts[p + "name"] = ep.fact(info["device_name"]) if "device_name" in info else (
            ep.unavailable("not reported by TensorFlow"))
        capability = info.get("compute_capability")
        facts[p + "compute_capability"] = (
            ep.fact("{}.{}".format(*capability)) if capability
            else ep.unavailable("not reported by TensorFlow")
        )
    return facts


def main():
    if importlib.util.find_spec("tensorflow") is None:
        ep.emit("tensorflow", {}, installed=False)
        return 0
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    facts = numerics_facts(tf)
    facts.update(device_facts(tf))
    ep.emit("tensorflow", facts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
