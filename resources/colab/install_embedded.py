# This cell carries the reprodiag that saved this notebook (the zip at the end of the cell), so
# Colab runs exactly the canaries of your machine. It unpacks it into ./reprodiag-VERSION, puts
# that folder first on sys.path and installs from PyPI, by name, the few dependencies the
# runtime may lack; nothing is fetched for reprodiag itself. (reprodiag/colab_notebook.py
# writes the call at the end when it saves the notebook; this code uses the standard library.)
import base64
import hashlib
import importlib
import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path


def install_embedded_reprodiag(*, version: str, sha256: str, dependencies: list, archive: str) -> None:
    data = base64.b64decode(archive)
    if hashlib.sha256(data).hexdigest() != sha256:
        raise RuntimeError("the embedded reprodiag is damaged; save the notebook from reprodiag again")
    folder = Path.cwd() / f"reprodiag-{version}"
    shutil.rmtree(folder, ignore_errors=True)  # a rerun of this cell starts clean
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        package.extractall(folder)
    # The kernel's own interpreter (what %pip uses); pip leaves what is already there alone.
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", *dependencies],
                         capture_output=True, text=True)
    if pip.returncode != 0:
        raise RuntimeError(f"pip could not install {' '.join(dependencies)}; is the runtime "
                           f"online? pip said: {pip.stderr.strip()[-800:]}")
    # A reprodiag imported before (an earlier run, or one installed from an index) gives way.
    for name in [m for m in sys.modules if m == "reprodiag" or m.startswith("reprodiag.")]:
        del sys.modules[name]
    sys.path[:] = [str(folder)] + [p for p in sys.path if p != str(folder)]
    importlib.invalidate_caches()
    import reprodiag

    if Path(reprodiag.__file__).resolve().parent != (folder / "reprodiag").resolve():
        raise RuntimeError(f"Python imported reprodiag from {reprodiag.__file__}, not {folder}")
    print(f"reprodiag {reprodiag.__version__} (embedded in this notebook) is ready in {folder}")
