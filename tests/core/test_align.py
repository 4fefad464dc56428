"""`align`: from two snapshots, what to install, export and paste on B to match A."""

import json

from reprodiag.core.diagnose import align, render_align_markdown, render_align_text
from reprodiag.core.env.model import Fact, Snapshot
from reprodiag.core.env.variables import REDACTED


def snap(facts: dict) -> Snapshot:
    return Snapshot(facts={k: Fact(v) for k, v in facts.items()})


COMMON = {"host.system": "Linux", "host.arch": "x86_64", "var.CUDA_VISIBLE_DEVICES": None,
          "framework.torch.version": "2.3.0+cu121", "framework.tensorflow.version": "2.15.0"}
A = snap({**COMMON, "host.python.version": "3.10.12", "pkg.torch": "2.3.0+cu121",
          "pkg.numpy": "1.26.4", "pkg.keras": "2.15.0", "pkg.requests": "2.31.0",
          "pkg.conda.mkl": "2023.1.0", "var.OMP_NUM_THREADS": "1", "var.MKL_NUM_THREADS": None,
          "var.TF_ENABLE_ONEDNN_OPTS": "0", "var.HOME": "/home/a", "var.WANDB_API_KEY": REDACTED,
          "cpu.flags.avx512_vnni": True})
B = snap({**COMMON, "host.python.version": "3.11.9", "pkg.torch": "2.1.0+cu118",
          "pkg.numpy": "2.0.1", "pkg.keras": "2.15.0", "pkg.requests": "2.32.3",
          "pkg.tf-keras": "2.15.1", "pkg.conda.mkl": "2024.0.0", "var.OMP_NUM_THREADS": "4",
          "var.MKL_NUM_THREADS": "4", "var.TF_ENABLE_ONEDNN_OPTS": None, "var.HOME": "/home/b",
          "var.WANDB_API_KEY": "x", "cpu.flags.avx512_vnni": False})


def test_pins_the_packages_that_matter_to_as_versions():
    plan = align(A, B, labels=("lab", "colab"))
    assert plan.pip_lines == [
        'pip install "numpy==1.26.4"',
        'pip install "torch==2.3.0+cu121" --index-url https://download.pytorch.org/whl/cu121',
    ]
    assert plan.conda_lines == ["conda install mkl=2023.1.0"]
    names = [name for name, _, _ in plan.packages]
    assert "requests" not in names and "keras" not in names  # unrelated, or equal
    assert ("torch", "2.3.0+cu121", "2.1.0+cu118") in plan.packages
    assert any("colab has tf-keras, which lab lacks" in n for n in plan.notes)


def test_exports_as_numerics_variables_and_unsets_what_a_does_not_set():
    plan = align(A, B)
    assert plan.env_exports == {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": None,
                                "TF_ENABLE_ONEDNN_OPTS": "0"}
    assert set(plan.export_lines) == {"export OMP_NUM_THREADS=1", "unset MKL_NUM_THREADS",
                                      "export TF_ENABLE_ONEDNN_OPTS=0"}
    assert not any("HOME" in line for line in plan.export_lines)  # not numerics-relevant


def test_notes_python_version_and_predicted_onednn():
    plan = align(A, snap({**COMMON, "host.python.version": "3.11.9",
                          "cpu.flags.avx512_vnni": False, "var.TF_ENABLE_ONEDNN_OPTS": None}))
    assert any("Python 3.10.12" in n and "Python 3.10 first" in n for n in plan.notes)
    a = snap({**COMMON, "cpu.flags.avx512_vnni": True})
    b = snap({**COMMON, "cpu.flags.avx512_vnni": False})
    notes = align(a, b).notes
    assert any("oneDNN is predicted on in A" in n and "off in B" in n for n in notes)


def test_code_blocks_per_framework_and_renderings():
    plan = align(A, B, ["torch"])
    assert list(plan.code) == ["torch"]
    assert "torch.use_deterministic_algorithms(True)" in plan.code["torch"]
    both = align(A, B)
    assert list(both.code) == ["torch", "tensorflow"]
    assert 'os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"' in both.code["tensorflow"]
    text = render_align_text(both)
    assert text.startswith("Make B (B) match A (A)")
    assert "   pip install \"numpy==1.26.4\"" in text and "   unset MKL_NUM_THREADS" in text
    md = render_align_markdown(both)
    assert "```bash\nconda install mkl=2023.1.0\npip install" in md
    assert "```python\nimport os" in md
    data = json.loads(json.dumps(both.to_json()))
    assert data["format"] == "reprodiag-align" and data["pip_lines"] == both.pip_lines


def test_identical_environments_need_nothing():
    plan = align(A, A, ["tensorflow"])
    assert plan.empty and not plan.notes
    assert "No numerics-relevant package or variable differs." in render_align_text(plan)
