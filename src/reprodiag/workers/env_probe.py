"""Facts about one Python interpreter, read without importing any ML framework.

Run BY PATH with the interpreter to describe (``python env_probe.py`` prints one JSON line
``{"probe": "env", "installed": true, "facts": {...}}``), or loaded in-process by reprodiag for its own
interpreter. Stdlib only, Python >= 3.8. Framework build facts come from the frameworks' own
build-info files, parsed with ``ast`` -- never imported or executed.

Keys: ``host.python.*`` (version, implementation, build, bits, executable, env, env_name,
platform), ``framework.<name>.*`` (version and build facts of numpy, torch, tensorflow, keras,
jax and other ML packages when present), ``pkg.<normalized-name>`` (every distribution) and,
in a conda env, ``pkg.conda.<name>`` for conda packages that are not Python distributions.
A fact is ``{"value": v}`` or ``{"unavailable": "reason"}``.
"""

import ast
import importlib.util
import json
import os
import platform
import re
import sys
from types import ModuleType
from typing import Optional

_metadata: Optional[ModuleType]
try:
    import importlib.metadata as _metadata
except ImportError:  # Python < 3.8: the caller reports the interpreter as unsupported
    _metadata = None

NOT_INSTALLED = "not installed"

# Always reported (unavailable when absent), so two snapshots diff cleanly.
CORE_FRAMEWORKS = ("numpy", "torch", "tensorflow")
# Reported only when installed: distribution name -> fact name.
OTHER_ML_PACKAGES = (
    "keras", "tf-keras", "jax", "jaxlib", "torchvision", "torchaudio", "triton", "scipy",
    "scikit-learn", "onnx", "onnxruntime", "onnxruntime-gpu", "transformers", "ml-dtypes",
    "mkl", "intel-openmp", "tensorrt", "cupy", "numba", "optree",
)
TENSORFLOW_DISTRIBUTIONS = (
    "tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-intel", "tensorflow-macos",
    "tf-nightly", "tf-nightly-cpu",
)


def fact(value):
    return {"value": value}


def unavailable(reason):
    return {"unavailable": str(reason)}


def guarded(read):
    """Call read() and wrap its result as a fact; an exception becomes the reason."""
    try:
        return fact(read())
    except Exception as exc:  # noqa: BLE001 -- any framework error is a fact's reason
        return unavailable(f"{type(exc).__name__}: {exc}")


def emit(probe, facts, installed=True):
    """The probe's one result line on stdout (the parent reads the last such line)."""
    line = {"probe": probe, "installed": installed, "facts": facts}
    sys.stdout.write(json.dumps(line, default=str) + "\n")
    sys.stdout.flush()


def normalize(name):
    """PEP 503 name normalisation: 'Scikit_Learn' -> 'scikit-learn'."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_versions():
    """Normalized distribution name -> version, first on sys.path wins (as imports do)."""
    versions: dict[str, str] = {}
    if _metadata is None:
        return versions
    for dist in _metadata.distributions():
        try:
            name, version = dist.metadata["Name"], dist.version
        except (KeyError, OSError, ValueError):  # a broken .dist-info must not hide the others
            continue
        if name and version and normalize(name) not in versions:
            versions[normalize(name)] = version
    return versions


def module_file(package, relative):
    """Path of a file inside a top-level package, found without importing the package."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, *relative.split("/"))
        if os.path.isfile(path):
            return path
    return None


def _read_module(path):
    with open(path, encoding="utf-8") as fh:
        return ast.parse(fh.read(), filename=path)


def literal_assignments(path):
    """Top-level ``name = <literal>`` assignments of a Python file, evaluated with ast only."""
    values = {}
    for node in _read_module(path).body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                try:
                    values[target.id] = ast.literal_eval(value)
                except ValueError:
                    continue
    return values


def _tolerant_literal(node):
    """ast.literal_eval that also reads meson's ``bool("True".lower()...)`` and drops the rest."""
    if isinstance(node, ast.Dict):
        out = {}
        for key, value in zip(node.keys, node.values):
            if key is None:
                continue
            k, v = _tolerant_literal(key), _tolerant_literal(value)
            if k is not None and v is not None:
                out[k] = v
        return out
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "bool":
        strings = [
            n.value for n in ast.walk(node)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)
        ]
        return bool(strings) and strings[0].lower() not in ("false", "")
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def numpy_build_config(path):
    """The BLAS/LAPACK numpy was built with, from numpy/__config__.py parsed as text."""
    facts = {}
    for node in _read_module(path).body:
        if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)):
            continue
        name, value = node.targets[0].id, node.value
        if name == "CONFIG":  # meson builds (numpy >= 1.26): CONFIG = _cleanup({...})
            if isinstance(value, ast.Call) and value.args:
                value = value.args[0]
            deps = (_tolerant_literal(value) or {}).get("Build Dependencies", {})
            blas, lapack = deps.get("blas", {}), deps.get("lapack", {})
            facts["blas"] = fact(blas.get("name")) if blas else unavailable("not in build config")
            if blas.get("version"):
                facts["blas_version"] = fact(blas["version"])
            if blas.get("openblas configuration"):
                facts["blas_config"] = fact(blas["openblas configuration"].strip())
            if lapack:
                facts["lapack"] = fact(lapack.get("name"))
        elif name.endswith("_info") and "blas" in name and "blas" not in facts:
            # distutils builds (numpy < 1.26): openblas64__info = {...}
            try:
                info = ast.literal_eval(value)
            except ValueError:
                continue
            if info:
                facts["blas"] = fact(name[: -len("_info")].strip("_"))
    return facts


def numpy_facts(versions):
    facts = {}
    if "numpy" not in versions:
        return {"framework.numpy.version": unavailable(NOT_INSTALLED)}
    facts["framework.numpy.version"] = fact(versions["numpy"])
    path = module_file("numpy", "__config__.py")
    if path is None:
        facts["framework.numpy.blas"] = unavailable("numpy/__config__.py not found")
        return facts
    try:
        config = numpy_build_config(path)
    except (OSError, SyntaxError, ValueError) as exc:
        config = {"blas": unavailable(f"cannot parse numpy/__config__.py: {exc}")}
    for key, value in config.items():
        facts["framework.numpy." + key] = value
    return facts


def torch_facts(versions):
    if "torch" not in versions:
        return {"framework.torch.version": unavailable(NOT_INSTALLED)}
    facts = {"framework.torch.version": fact(versions["torch"])}
    path = module_file("torch", "version.py")
    names = {"cuda": "cuda", "hip": "hip", "git_version": "git_version", "debug": "debug"}
    try:
        if path is None:
            raise OSError("torch/version.py not found")
        info = literal_assignments(path)
        for var, key in names.items():
            facts["framework.torch." + key] = (
                fact(info[var]) if var in info else unavailable("not in torch/version.py")
            )
    except (OSError, SyntaxError, ValueError) as exc:
        for key in names.values():
            facts["framework.torch." + key] = unavailable(exc)
    cudnn = sorted(n for n in versions if re.match(r"nvidia-cudnn-cu\d+$", n))
    facts["framework.torch.cudnn"] = (
        fact(versions[cudnn[-1]]) if cudnn else unavailable("no nvidia-cudnn wheel installed")
    )
    return facts


def tensorflow_build_info(path):
    """build_info = collections.OrderedDict([...]) or a dict literal, read with ast."""
    for node in _read_module(path).body:
        if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)):
            continue
        if node.targets[0].id != "build_info":
            continue
        value = node.value
        if isinstance(value, ast.Call) and value.args:  # OrderedDict([...])
            value = value.args[0]
        return dict(ast.literal_eval(value))
    raise ValueError("no build_info assignment")


def tensorflow_facts(versions):
    dist = next((d for d in TENSORFLOW_DISTRIBUTIONS if d in versions), None)
    if dist is None:
        return {"framework.tensorflow.version": unavailable(NOT_INSTALLED)}
    facts = {"framework.tensorflow.version": fact(versions[dist])}
    if dist != "tensorflow":
        facts["framework.tensorflow.distribution"] = fact(dist)
    path = module_file("tensorflow", "python/platform/build_info.py")
    try:
        if path is None:
            raise OSError("tensorflow/python/platform/build_info.py not found")
        for key, value in tensorflow_build_info(path).items():
            facts["framework.tensorflow.build." + str(key)] = fact(value)
    except (OSError, SyntaxError, ValueError, TypeError) as exc:
        facts["framework.tensorflow.build"] = unavailable(exc)
    return facts


def keras_backend():
    """The backend Keras 3 will pick: KERAS_BACKEND, else keras.json, else tensorflow."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as fh:
            backend = json.load(fh).get("backend")
        if isinstance(backend, str) and backend:
            return backend
    except (OSError, ValueError, AttributeError):
        pass
    return "tensorflow"


def other_ml_facts(versions):
    facts = {}
    for dist in OTHER_ML_PACKAGES:
        if dist in versions:
            facts[f"framework.{dist}.version"] = fact(versions[dist])
    if "keras" in versions:
        facts["framework.keras.backend"] = fact(keras_backend())
    return facts


def python_facts():
    facts = {
        "host.python.version": fact(platform.python_version()),
        "host.python.implementation": fact(platform.python_implementation()),
        "host.python.build": fact(sys.version.replace("\n", " ")),
        "host.python.bits": fact(sys.maxsize.bit_length() + 1),
        "host.python.executable": fact(sys.executable),
        "host.python.platform": fact(platform.platform()),
    }
    prefix = sys.prefix
    if os.path.isdir(os.path.join(prefix, "conda-meta")):
        kind = "conda"
        is_base = os.path.isdir(os.path.join(prefix, "envs"))
        name = "base" if is_base else os.path.basename(prefix.rstrip(os.sep))
    elif prefix != getattr(sys, "base_prefix", prefix):
        kind, name = "venv", os.path.basename(prefix.rstrip(os.sep))
    else:
        kind, name = "system", None
    facts["host.python.env"] = fact(kind)
    facts["host.python.env_name"] = fact(name)
    return facts


def conda_only_packages(versions):
    """Packages of a conda env that are not Python distributions (cudatoolkit, mkl, cudnn...),
    from the conda-meta/<name>-<version>-<build>.json file names."""
    try:
        names = os.listdir(os.path.join(sys.prefix, "conda-meta"))
    except OSError:
        return {}
    found = {}
    for entry in names:
        parts = entry[: -len(".json")].rsplit("-", 2) if entry.endswith(".json") else []
        if len(parts) == 3 and normalize(parts[0]) not in versions:
            found[normalize(parts[0])] = parts[1]
    return found


def collect():
    """All facts of this interpreter, as {key: {"value"|"unavailable": ...}}."""
    facts = python_facts()
    listed = guarded(installed_versions)
    versions = listed.get("value") or {}
    if "unavailable" in listed:  # the package database is unreadable: say so, keep the rest
        facts["pkg"] = unavailable(f"cannot list distributions: {listed['unavailable']}")
    for part in (numpy_facts, torch_facts, tensorflow_facts, other_ml_facts):
        # One unreadable framework must not lose the others.
        result = guarded(lambda part=part: part(versions))
        if "value" in result:
            facts.update(result["value"])
        else:
            facts["framework." + part.__name__.replace("_facts", "")] = result
    for name, version in sorted(versions.items()):
        facts["pkg." + name] = fact(version)
    for name, version in sorted(conda_only_packages(versions).items()):
        facts["pkg.conda." + name] = fact(version)
    return facts


def main():
    if sys.version_info < (3, 8):  # noqa: UP036 -- this script also runs on older Pythons
        sys.stderr.write("reprodiag needs Python 3.8 or newer\n")
        return 3
    emit("env", collect())
    return 0


if __name__ == "__main__":
    sys.exit(main())
