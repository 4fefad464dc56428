"""Environment diff: what counts as a difference, and the order differences are shown in."""

from reprodiag.core.compare.envdiff import diff_env, same_fact
from reprodiag.core.env.model import Fact, Snapshot, unavailable


def _snap(facts: dict) -> Snapshot:
    return Snapshot(facts={k: v if isinstance(v, Fact) else Fact(value=v)
                           for k, v in facts.items()})


def test_ranked_numerics_first_then_severity_then_group_then_key():
    a = _snap({
        "host.hostname": "a", "host.kernel": "6.1", "pkg.requests": "2.31",
        "host.ram_total": 16, "pkg.numpy": "1.26.4", "gpu.driver_version": "550",
        "numerics.torch.num_threads": 1, "cpu.flags.avx512f": True, "gpu.10.name": "A100",
        "gpu.2.name": "A100", "var.OMP_NUM_THREADS": "1", "framework.torch.version": "2.3.0",
    })
    b = _snap({
        "host.hostname": "b", "host.kernel": "6.8", "pkg.requests": "2.32",
        "host.ram_total": 32, "pkg.numpy": "2.1.0", "gpu.driver_version": "560",
        "numerics.torch.num_threads": 2, "cpu.flags.avx512f": False, "gpu.10.name": "H100",
        "gpu.2.name": "H100", "var.OMP_NUM_THREADS": "2", "framework.torch.version": "2.4.0",
    })
    keys = [d.key for d in diff_env(a, b)]
    assert keys == [
        # severity 3, numerics: group order cpu, gpu, framework, numerics, var; gpu.2 < gpu.10
        "cpu.flags.avx512f", "gpu.2.name", "gpu.10.name", "framework.torch.version",
        "numerics.torch.num_threads", "var.OMP_NUM_THREADS",
        # severity 2, numerics
        "gpu.driver_version", "pkg.numpy",
        # severity 2, not numerics; then informational
        "host.ram_total",
        "host.hostname", "host.kernel", "pkg.requests",
    ]
    d = diff_env(a, b)[0]
    assert (d.severity, d.numerics, d.same) == (3, True, False)
    assert d.a_text == "yes" and d.b_text == "no" and d.group == "cpu"
    assert "instruction set" in d.why


def test_facts_one_side_did_not_capture_are_unknown_not_different():
    a = _snap({"pkg.numpy": "2.1.0", "var.CUBLAS_WORKSPACE_CONFIG": ":4096:8"})
    b = _snap({"pkg.numpy": "2.1.0", "gpu.0.name": "T4"})
    diffs = diff_env(a, b)
    assert [(d.key, d.a_text, d.b_text, d.unknown) for d in diffs] == [
        ("gpu.0.name", "not captured", "T4", True),
        ("var.CUBLAS_WORKSPACE_CONFIG", ":4096:8", "not captured", True),
    ]


def test_complete_lists_say_unset_not_installed_and_no_such_gpu():
    a = _snap({"pkg.numpy": "2.1.0", "pkg.scipy": "1.13.0", "var.OMP_NUM_THREADS": None,
               "var.MKL_CBWR": "COMPATIBLE", "gpu.count": 0})
    b = _snap({"pkg.numpy": "2.1.0", "var.OMP_NUM_THREADS": None, "gpu.count": 1,
               "gpu.0.name": "T4"})
    diffs = {d.key: d for d in diff_env(a, b)}
    assert (diffs["var.MKL_CBWR"].b_text, diffs["var.MKL_CBWR"].unknown) == ("not set", False)
    assert (diffs["pkg.scipy"].b_text, diffs["pkg.scipy"].unknown) == ("not installed", False)
    assert (diffs["gpu.0.name"].a_text, diffs["gpu.0.name"].unknown) == ("no such GPU", False)


def test_include_same_lists_every_fact():
    a = _snap({"pkg.numpy": "2.1.0", "host.hostname": "a"})
    b = _snap({"pkg.numpy": "2.1.0", "host.hostname": "b"})
    diffs = diff_env(a, b, include_same=True)
    assert [(d.key, d.same) for d in diffs] == [("pkg.numpy", True), ("host.hostname", False)]
    assert diff_env(a, a) == []


def test_value_equality_rules():
    assert same_fact(Fact(value=[1, 2]), Fact(value=(1, 2)))  # JSON round trip
    assert not same_fact(Fact(value=True), Fact(value=1))
    assert not same_fact(Fact(value=0), Fact(value=False))
    assert same_fact(Fact(value=2), Fact(value=2.0))
    assert same_fact(unavailable("no NVML"), unavailable("no driver"))
    assert not same_fact(unavailable("no NVML"), Fact(value=None))
    assert same_fact(Fact(value={"x": [1]}), Fact(value={"x": (1,)}))


def test_unavailable_against_a_value_is_a_difference():
    a = _snap({"gpu.driver_version": unavailable("NVML not installed")})
    b = _snap({"gpu.driver_version": "550.54"})
    (d,) = diff_env(a, b)
    assert d.a_text == "unavailable: NVML not installed" and d.b_text == "550.54"


def test_unknown_groups_sort_last():
    a = _snap({"zzz.other": 1, "host.hostname": "a"})
    b = _snap({"zzz.other": 2, "host.hostname": "b"})
    assert [d.key for d in diff_env(a, b)] == ["host.hostname", "zzz.other"]


def test_volatile_readings_are_not_environment_differences():
    a = Snapshot(facts={"cpu.ram_available": Fact(value=1), "gpu.0.memory_used": Fact(value=5),
                        "cpu.ram_total": Fact(value=10)})
    b = Snapshot(facts={"cpu.ram_available": Fact(value=2), "gpu.0.memory_used": Fact(value=6),
                        "cpu.ram_total": Fact(value=12)})
    assert [d.key for d in diff_env(a, b)] == ["cpu.ram_total"]
    assert {d.key for d in diff_env(a, b, include_same=True)} == set(a.facts)


def test_report_provenance_is_not_an_environment_difference():
    a = Snapshot(facts={"host.source": Fact(value="torch collect_env report"),
                        "host.os": Fact(value="Ubuntu 20.04.6 LTS")})
    b = Snapshot(facts={"host.os": Fact(value="Debian GNU/Linux 12 (bookworm)")})
    assert [d.key for d in diff_env(a, b)] == ["host.os"]
