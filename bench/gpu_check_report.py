"""``gpu_check.json`` and ``gpu_check.md``: every figure of a GPU check, and its goals.

The goals are issue 17's, from a probe on one H100 (notebook loop 5,400 docs/s; 8
CUDA-graph processes under MPS 106,700 docs/s): one process with graphs >= 5x the notebook
loop, 8 packed under MPS >= 25x, IMDB test accuracy >= 0.88 within the 4-minute search,
every CUDA test passing, and the OOM guard failing one trial while its worker goes on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GRAPHS_GOAL = 5.0
PACKED_MPS_GOAL = 25.0
TEST_ACCURACY_GOAL = 0.88


def _rows(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    rows = report.get("parts", {}).get("throughput", {}).get("rows", [])
    return {row["row"]: row for row in rows}


def _ratio_of(report: dict[str, Any], graphs: bool, mps: bool, packed: bool) -> float | None:
    for row in _rows(report).values():
        if row["graphs"] == graphs and row["mps"] == mps and (row["workers"] > 1) == packed:
            return row.get("ratio")
    return None


def goals(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal with the figure it is read against; ``met`` is None when not measured."""
    parts = report.get("parts", {})

    def at_least(value: float | None, goal: float) -> bool | None:
        return None if value is None else value >= goal

    graphs = _ratio_of(report, graphs=True, mps=False, packed=False)
    packed = _ratio_of(report, graphs=True, mps=True, packed=True)
    accuracy = parts.get("ttt", {}).get("test_accuracy")
    tests = parts.get("tests", {})
    cuda = tests.get("cuda_only") or {}
    n_cuda = sum(cuda.values())
    all_pass = None
    on_gpu = str(report.get("device_asked", "")).startswith("cuda")
    if on_gpu and tests.get("status") in ("ok", "failed") and n_cuda:
        all_pass = cuda.get("passed", 0) == n_cuda
    oom = parts.get("oom", {})
    guard = None
    if oom.get("status") in ("ok", "failed"):
        guard = bool(oom.get("failed_with_reason") and oom.get("worker_went_on"))
    return [
        {
            "goal": f"1 process + CUDA graphs >= x{GRAPHS_GOAL:g}",
            "value": graphs,
            "met": at_least(graphs, GRAPHS_GOAL),
        },
        {
            "goal": f"8 packed + graphs under MPS >= x{PACKED_MPS_GOAL:g}",
            "value": packed,
            "met": at_least(packed, PACKED_MPS_GOAL),
        },
        {
            "goal": f"IMDB test accuracy >= {TEST_ACCURACY_GOAL:g} (time-to-target run)",
            "value": accuracy,
            "met": at_least(accuracy, TEST_ACCURACY_GOAL),
        },
        {
            "goal": "every CUDA test passes",
            "value": f"{cuda.get('passed', 0)}/{n_cuda}",
            "met": all_pass,
        },
        {
            "goal": "OOM guard fails the trial with the reason; the worker goes on",
            "value": oom.get("fail_reason") or None,
            "met": guard,
        },
    ]


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec) if spec else str(value)


def _status(part: dict[str, Any]) -> str:
    reason = part.get("reason")
    return f"{part.get('status')}" + (f": {reason}" if reason else "")


def markdown(report: dict[str, Any]) -> str:
    """The Markdown table: one line per figure, then the goals and a README Speed row."""
    info = report.get("info", {})
    parts = report.get("parts", {})
    lines = [
        "# hpsearch GPU check" + (" (smoke run)" if report.get("smoke") else ""),
        "",
        f"- device: {info.get('device')}"
        + (
            f", {info['memory_gib']} GiB, {info.get('multiprocessors')} SMs, "
            f"compute {info.get('capability')}"
            if "memory_gib" in info
            else ""
        ),
        f"- torch {info.get('torch')}, CUDA {info.get('cuda')}, Python {info.get('python')}, "
        f"optuna {info.get('optuna')}, {info.get('cpu_cores')} CPU cores",
        f"- date: {report.get('date')}; budget {report.get('budget_minutes')} min, "
        f"used {_fmt(report.get('elapsed_s'))} s; data: {report.get('data')}",
        "",
        "| part | figure | value |",
        "|------|--------|------:|",
    ]
    for name, part in parts.items():
        lines.append(f"| {name} | status | {_status(part)} ({part.get('seconds')} s) |")
    tests = parts.get("tests", {})
    if tests.get("counts"):
        counts = tests["counts"]
        cuda = tests.get("cuda_only", {})
        lines.append(
            f"| tests | CUDA-only tests passed / failed / skipped | "
            f"{cuda.get('passed', 0)} / {cuda.get('failed', 0) + cuda.get('error', 0)}"
            f" / {cuda.get('skipped', 0)} |"
        )
        lines.append(
            f"| tests | all tests in those files passed / failed / skipped | "
            f"{counts['passed']} / {counts['failed'] + counts['error']} / "
            f"{counts['skipped']} |"
        )
        for case in tests.get("cases", []):
            if case["outcome"] in ("failed", "error"):
                lines.append(f"| tests | FAILED {case['test']} | {case['message'][:120]} |")
    for row in _rows(report).values():
        if row["status"] == "ok":
            value = f"{row['docs_per_s']:,.0f} docs/s (x{row['ratio']:.2f})"
        else:
            value = f"{row['status']}: {row['reason']}"
        lines.append(f"| throughput | {row['row']} | {value} |")
    ttt = parts.get("ttt", {})
    if "best_val" in ttt:
        lines += [
            f"| ttt | {ttt.get('workers')} workers{' under MPS' if ttt.get('mps') else ''}, "
            f"{_fmt(ttt.get('minutes'), '.1f')} min, {ttt.get('pruner')} | |",
            f"| ttt | best validation accuracy | {_fmt(ttt.get('best_val'), '.4f')} |",
            f"| ttt | test accuracy of that trial | {_fmt(ttt.get('test_accuracy'), '.4f')} |",
            f"| ttt | trials finished (complete + pruned) / failed | {ttt.get('finished')} "
            f"({ttt.get('complete')} + {ttt.get('pruned')}) / {ttt.get('failed')} |",
            f"| ttt | epochs trained | {ttt.get('epochs')} |",
            f"| ttt | seconds to val >= {ttt.get('target')} | "
            f"{_fmt(ttt.get('time_to_target_s'), '.0f')} |",
        ]
    oom = parts.get("oom", {})
    if "fail_reason" in oom:
        lines += [
            f"| oom | trial failed with | {oom['fail_reason'][:120] or '-'} |",
            f"| oom | worker went on (next trial complete, exit 0) | {oom.get('worker_went_on')} |",
        ]
    lines += ["", "| goal | value | met |", "|------|------:|-----|"]
    for goal in goals(report):
        value = goal["value"]
        shown = f"x{value:.2f}" if isinstance(value, float) and value > 1 else _fmt(value)
        met = {True: "yes", False: "NO", None: "not measured"}[goal["met"]]
        lines.append(f"| {goal['goal']} | {str(shown)[:80]} | {met} |")
    lines += ["", "README Speed row:", "", speed_row(report), ""]
    return "\n".join(lines)


def speed_row(report: dict[str, Any]) -> str:
    """One row in the shape of the README's Speed table (plus the MPS columns)."""
    rows = list(_rows(report).values())
    notebook = next((r for r in rows if r["row"] == "notebook loop"), None)

    def cell(row: dict[str, Any]) -> str:
        return f"x{row['ratio']:.2f}" if row.get("ratio") is not None else "n/a"

    cells = [str(report.get("info", {}).get("device")), str(report.get("date", ""))[:10]]
    if notebook and notebook.get("docs_per_s"):
        cells.append(f"{notebook['docs_per_s']:,.0f} docs/s (x1.00)")
    cells += [cell(r) for r in rows if r["row"] != "notebook loop"]
    header = ["device", "date"] + [r["row"] for r in rows]
    return "\n".join(
        [
            "| " + " | ".join(header) + " |",
            "|" + "|".join("---" for _ in header) + "|",
            "| " + " | ".join(cells) + " |",
        ]
    )


def write_reports(report: dict[str, Any], out_dir: Path) -> None:
    """Write ``gpu_check.json`` and ``gpu_check.md`` into ``out_dir`` (replacing them)."""
    try:
        report = {**report, "goals": goals(report)}
        table = markdown(report)
    except Exception as exc:  # noqa: BLE001 - a formatting slip must not lose the figures
        table = f"# hpsearch GPU check\n\nthe table failed ({type(exc).__name__}: {exc}); "
        table += "every figure is in gpu_check.json\n"
    for name, text in (
        ("gpu_check.json", json.dumps(report, indent=2, default=str) + "\n"),
        ("gpu_check.md", table),
    ):
        partial = out_dir / (name + ".tmp")
        partial.write_text(text, encoding="utf-8")
        partial.replace(out_dir / name)
