"""bench/gpu_check.py: the budget cut-off, the reports, the CUDA-test plugin, the wheel check.

The whole check at toy size (``--device cpu --smoke``) runs in ``.ci/run``; these are the
fast parts of it that a GPU run relies on and a CPU can prove.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import gpu_check_harness as harness  # noqa: E402
from gpu_check_parts import read_junit  # noqa: E402
from gpu_check_prepare import unmet_requirements  # noqa: E402

SCRIPT = BENCH / "gpu_check.py"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its exit status is left


def _part(tmp_path: Path, name: str, code: str, share_s: float) -> harness.PlannedPart:
    script = tmp_path / f"{name}.py"
    script.write_text(textwrap.dedent(code))
    return harness.PlannedPart(name, [sys.executable, str(script)], share_s)


def test_a_part_that_overruns_is_cut_recorded_as_timed_out_and_the_rest_still_runs(tmp_path):
    workdir, out = tmp_path / "work", tmp_path / "out"
    workdir.mkdir(), out.mkdir()
    slow = _part(
        tmp_path,
        "slow",
        f"""
        import json, subprocess, sys, time
        from pathlib import Path
        # A worker in its own session, as the launcher starts them: the cut must reach it.
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                                 start_new_session=True)
        Path({str(tmp_path / "child.pid")!r}).write_text(str(child.pid))
        Path({str(workdir / "slow.json")!r}).write_text(json.dumps({{"status": "running", "rows": [1]}}))
        time.sleep(600)
        """,
        share_s=3.0,
    )
    quick = _part(
        tmp_path,
        "quick",
        f"""
        import json
        from pathlib import Path
        Path({str(workdir / "quick.json")!r}).write_text(json.dumps({{"status": "ok", "value": 42}}))
        """,
        share_s=60.0,
    )
    started = time.monotonic()
    report = harness.run_parts([slow, quick], out, workdir, {"date": "today"}, {}, 120.0)

    cut = report["parts"]["slow"]
    assert cut["status"] == "timed out"
    assert cut["reason"] == "cut off after 3 s"
    assert cut["rows"] == [1]  # what it measured before the cut is kept
    assert report["parts"]["quick"]["status"] == "ok"
    assert report["parts"]["quick"]["value"] == 42
    # 3 s share + at most two 5 s grace periods, with a wide margin for a loaded machine.
    assert time.monotonic() - started < 45
    child = int((tmp_path / "child.pid").read_text())
    for _ in range(50):
        if not _alive(child):
            break
        time.sleep(0.1)
    assert not _alive(child), "the part's worker in another session survived the cut"
    stored = json.loads((out / "gpu_check.json").read_text())
    assert stored["parts"]["slow"]["status"] == "timed out"
    assert "| slow | status | timed out: cut off after 3 s" in (out / "gpu_check.md").read_text()


def test_time_a_part_leaves_unused_passes_to_the_next(tmp_path):
    workdir, out = tmp_path / "work", tmp_path / "out"
    workdir.mkdir(), out.mkdir()
    fast = _part(tmp_path, "fast", "pass\n", share_s=30.0)
    after = _part(tmp_path, "after", "pass\n", share_s=5.0)
    report = harness.run_parts([fast, after], out, workdir, {}, {}, 35.0)
    # The first part's unused share passes on: the second may run for more than its 5 s.
    assert report["parts"]["after"]["limit_s"] > 20
    # No result file and exit 0: it ran, but said nothing; that is not "ok".
    assert report["parts"]["fast"]["status"] == "failed"


def test_help_says_what_each_part_runs_and_how_long_it_takes():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    for name, seconds in (("tests", 43), ("oom", 24), ("throughput", 115), ("ttt", 298)):
        assert f"{name}" in done.stdout and f"= {seconds:>4} s" in done.stdout
    assert "ttt searches for 4.0 min" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--budget-minutes", "0"], "error: --budget-minutes must be greater than 0, but got 0"),
        (["--device", "gpu"], "error: --device 'gpu' is not accepted; accepted: cpu, cuda, cuda:N"),
        (
            ["--parts", "tests,speed"],
            "error: --parts 'tests,speed' is not accepted; accepted: a comma-separated subset of tests, oom, throughput, ttt",
        ),
        (
            ["--data-dir", "/nonexistent"],
            "error: --data-dir '/nonexistent' holds no train and test .csv.gz/.csv.xz",
        ),
    ],
)
def test_bad_arguments_are_one_line_errors_with_exit_2(args, message, tmp_path):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == message


def test_a_cpu_run_reports_the_cuda_parts_as_skipped_in_json_and_markdown(tmp_path):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--smoke", "--parts", "oom"]
        + ["--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["parts"]["oom"]["status"] == "skipped"
    assert report["parts"]["oom"]["reason"] == "needs CUDA"
    assert report["info"]["torch"]  # device and versions head the report
    table = (tmp_path / "gpu_check.md").read_text()
    assert "| oom | status | skipped: needs CUDA" in table
    assert f"torch {report['info']['torch']}" in table


def test_cuda_only_tests_are_marked_and_each_outcome_recorded(tmp_path):
    (tmp_path / "test_sample.py").write_text(
        textwrap.dedent(
            """
            import pytest
            @pytest.mark.skipif(True, reason="needs a CUDA GPU (run on the GPU machine)")
            def test_on_gpu():
                pass
            def test_passes():
                pass
            def test_fails():
                assert 1 == 2, "one is not two"
            """
        )
    )
    junit = tmp_path / "junit.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "gpu_check_pytest", "-p", "no:cacheprovider"]
        + [f"--junitxml={junit}", "--rootdir", str(tmp_path), str(tmp_path / "test_sample.py")],
        cwd=tmp_path,
        env={"PYTHONPATH": str(BENCH), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        timeout=120,
    )
    cases = {c["test"].rsplit("::", 1)[1]: c for c in read_junit(junit)}
    assert cases["test_on_gpu"]["outcome"] == "skipped"
    assert cases["test_on_gpu"]["cuda_only"] is True
    assert cases["test_passes"]["outcome"] == "passed"
    assert cases["test_passes"]["cuda_only"] is False
    assert cases["test_fails"]["outcome"] == "failed"
    assert "one is not two" in cases["test_fails"]["message"]


def _wheel(folder: Path, name: str, requires: list[str]) -> Path:
    path = folder / f"{name}-1.0-py3-none-any.whl"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}-1.0.dist-info/METADATA", metadata)
    return path


def test_a_wheel_whose_requirement_is_neither_on_the_device_nor_carried_is_named(tmp_path):
    needs = [
        "Mako>=1.0",
        "numpy",
        "tomli; python_version < '3.11'",  # the device runs 3.12
        "pytest; extra == 'test'",
        "pywin32; sys_platform == 'win32'",
    ]
    alembic = _wheel(tmp_path, "alembic", needs)
    mako = _wheel(tmp_path, "Mako", ["MarkupSafe>=0.9"])
    on_device = {"numpy", "markupsafe"}
    assert unmet_requirements([alembic, mako], on_device) == {}
    assert unmet_requirements([alembic], on_device) == {alembic.name: ["mako"]}


def test_a_gpu_report_shows_every_figure_and_reads_each_goal(tmp_path):
    """The shape a GPU run writes (the numbers are made up): every figure lands in the table."""
    from gpu_check_report import write_reports

    row = {"workers": 1, "graphs": False, "mps": False, "status": "ok", "reason": ""}
    rows = [
        {**row, "row": "notebook loop", "docs_per_s": 5400.0, "ratio": 1.0},
        {
            **row,
            "row": "project loop + graphs",
            "graphs": True,
            "docs_per_s": 32400.0,
            "ratio": 6.0,
        },
        {
            **row,
            "row": "project x8 MPS + graphs",
            "workers": 8,
            "graphs": True,
            "mps": True,
            "docs_per_s": 108000.0,
            "ratio": 20.0,
        },
        {
            **row,
            "row": "project x8 MPS",
            "workers": 8,
            "mps": True,
            "status": "failed",
            "docs_per_s": None,
            "ratio": None,
            "reason": "ConfigError: could not start NVIDIA MPS",
        },
    ]
    case = {
        "test": "tests/objectives/test_graphs.py::test_x",
        "outcome": "passed",
        "cuda_only": True,
        "seconds": 1.0,
        "message": "",
    }
    report = {
        "date": "2026-12-01 11:00 UTC",
        "device_asked": "cuda",
        "budget_minutes": 8.0,
        "info": {
            "device": "NVIDIA H200",
            "memory_gib": 139.8,
            "multiprocessors": 132,
            "capability": "9.0",
            "torch": "2.11.0+cu130",
            "cuda": "13.0",
            "python": "3.12.3",
            "optuna": "5.0.0",
            "cpu_cores": 16,
        },
        "parts": {
            "tests": {
                "status": "ok",
                "seconds": 30.0,
                "cases": [case],
                "counts": {"passed": 1, "failed": 0, "error": 0, "skipped": 0},
                "cuda_only": {"passed": 1, "failed": 0, "skipped": 0, "error": 0},
            },
            "oom": {
                "status": "ok",
                "seconds": 20.0,
                "fail_reason": "CUDA out of memory: Tried to allocate 768.00 MiB",
                "failed_with_reason": True,
                "worker_went_on": True,
            },
            "throughput": {
                "status": "failed",
                "seconds": 100.0,
                "rows": rows,
                "reason": "project x8 MPS",
            },
            "ttt": {
                "status": "ok",
                "seconds": 280.0,
                "workers": 8,
                "mps": True,
                "minutes": 4.0,
                "pruner": "MedianPruner",
                "best_val": 0.8912,
                "test_accuracy": 0.8841,
                "finished": 40,
                "complete": 25,
                "pruned": 15,
                "failed": 0,
                "epochs": 300,
                "target": 0.88,
                "time_to_target_s": 150.0,
            },
        },
    }
    write_reports(report, tmp_path)
    table = (tmp_path / "gpu_check.md").read_text()
    for text in (
        "NVIDIA H200, 139.8 GiB",
        "torch 2.11.0+cu130, CUDA 13.0",
        "2026-12-01",
        "| throughput | notebook loop | 5,400 docs/s (x1.00) |",
        "| throughput | project x8 MPS | failed: ConfigError: could not start NVIDIA MPS |",
        "| ttt | test accuracy of that trial | 0.8841 |",
        "| ttt | trials finished (complete + pruned) / failed | 40 (25 + 15) / 0 |",
        "| oom | trial failed with | CUDA out of memory: Tried to allocate 768.00 MiB |",
    ):
        assert text in table, text
    met = {
        g["goal"]: g["met"] for g in json.loads((tmp_path / "gpu_check.json").read_text())["goals"]
    }
    assert met == {
        "1 process + CUDA graphs >= x5": True,
        "8 packed + graphs under MPS >= x25": False,
        "IMDB test accuracy >= 0.88 (time-to-target run)": True,
        "every CUDA test passes": True,
        "OOM guard fails the trial with the reason; the worker goes on": True,
    }


def test_a_part_left_no_time_by_the_budget_is_recorded_and_not_started(tmp_path):
    workdir, out = tmp_path / "work", tmp_path / "out"
    workdir.mkdir(), out.mkdir()
    hog = _part(tmp_path, "hog", "import time\ntime.sleep(600)\n", share_s=12.0)
    never = _part(tmp_path, "never", f"open({str(tmp_path / 'ran')!r}, 'w')\n", share_s=0.0)
    # 12 s of budget less two grace periods for stopping a cut part: the hog gets 2 s.
    report = harness.run_parts([hog, never], out, workdir, {}, {}, 12.0)
    assert report["parts"]["hog"]["status"] == "timed out"
    assert report["parts"]["never"] == {
        "status": "timed out",
        "reason": "no time left in the budget",
        "seconds": 0.0,
        "limit_s": 0.0,
    }
    assert not (tmp_path / "ran").exists()
