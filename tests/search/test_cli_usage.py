"""What a new user meets first: usage errors, ``--help`` and how fast both come back.

Nothing here trains, so it runs in seconds and is the module to run against another typer
(``PYTHONPATH=/tmp/typer-old python3 -m pytest tests/search/test_cli_usage.py``): typer's
bundled click (``typer._click``) and the ``click`` package must behave the same.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import typer.main
from cli_helpers import hpsearch, process_env

from search import cli

# Per command: (arguments, a word the one error line must name). Each command gets an
# unknown option (a typo: click's hint names the real one), a bad value or a value where none
# is taken, and a missing option or option value.
BAD_USAGES: dict[str, list[tuple[list[str], str]]] = {
    "run": [
        (["--n-trial", "3"], "--n-trials"),
        (["--n-trials", "abc"], "--n-trials"),
        (["--epochs", "1.5"], "--epochs"),
        (["--study"], "--study"),
    ],
    "best": [
        (["--studdy", "x"], "--study"),
        (["--json=yes"], "--json"),
        (["--storage"], "--storage"),
        (["extra"], "extra"),
    ],
    "status": [
        (["--jsn"], "--json"),
        (["--json=1"], "--json"),
        (["--study"], "--study"),
    ],
    "create": [
        (["--n-trails", "3"], "--n-trials"),
        (["--n-trials", "many"], "--n-trials"),
        (["--config"], "--config"),
    ],
    "worker": [
        (["--heartbeat", "5"], "--heartbeat-interval"),
        (["--heartbeat-interval", "often"], "--heartbeat-interval"),
        (["--timeout", "soon"], "--timeout"),
        (["--device"], "--device"),
    ],
    "launch": [
        (["--worker", "2"], "--workers"),
        (["--workers", "two"], "--workers"),
        (["--workers-per-gpu", "1.5"], "--workers-per-gpu"),
        (["--gpus"], "--gpus"),
    ],
    "dashboard": [
        (["--prot", "8081"], "--port"),
        (["--port", "http"], "--port"),
        (["--host"], "--host"),
    ],
    "report": [
        (["--top-k", "many"], "--top-k"),
        (["--compare", "a"], "--compare"),
        (["--study", "s", "--outt", "x"], "--out"),
        (["--study"], "--study"),
    ],
    "trials": [
        (["--study"], "--study"),
        (["--study", "s", "--cvs", "x.csv"], "--csv"),
        (["--study", "s", "--csv"], "--csv"),
    ],
    "slurm submit": [
        (["--worker", "2"], "--workers"),
        (["--workers", "two"], "--workers"),
        (["--time"], "--time"),
    ],
    "slurm status": [
        (["--jobid", "1"], "--job-id"),
        (["--study"], "--study"),
        (["extra"], "extra"),
    ],
    "slurm cancel": [
        (["--heartbeat", "5"], "--heartbeat-interval"),
        (["--heartbeat-interval", "often"], "--heartbeat-interval"),
        (["--job-id"], "--job-id"),
    ],
    "predict": [
        (["--inptu", "x.txt"], "--input"),
        ([], "--input"),
        (["--input"], "--input"),
        (["a.txt", "--input", "b.txt"], "--input 'b.txt'"),
    ],
    "evaluate": [
        (["--trail", "3"], "--trial"),
        (["--trial", "best"], "--trial"),
        (["--baseline=yes"], "--baseline"),
        (["--trial"], "--trial"),
    ],
    "import-csv": [
        (["old.csv", "--value-column", "acc"], "--study"),
        (["old.csv", "--study", "s"], "--value-column"),
        (["--study", "s", "--value-column", "acc"], "file"),
        (["old.csv", "--study", "s", "--value-colum", "acc"], "--value-column"),
    ],
}


def _commands() -> dict[str, object]:
    """Every command a user types, a group's subcommands as "group sub"."""
    commands: dict[str, object] = {}
    for name, command in typer.main.get_command(cli.app).commands.items():  # type: ignore[attr-defined]
        subcommands = getattr(command, "commands", None)
        if subcommands:
            commands.update({f"{name} {sub}": c for sub, c in subcommands.items()})
        else:
            commands[name] = command
    return commands


def test_every_command_has_its_bad_usages():
    assert set(BAD_USAGES) == set(_commands())
    assert all(len(cases) >= 3 for cases in BAD_USAGES.values())


@pytest.mark.parametrize(
    ("command", "args", "named"),
    [(command, args, named) for command, cases in BAD_USAGES.items() for args, named in cases],
)
def test_bad_usage_is_one_error_line_and_the_usage_line(
    capsys, tmp_path, monkeypatch, command, args, named
):
    monkeypatch.chdir(tmp_path)
    code, out, err = hpsearch(capsys, *command.split(), *args)
    assert code == 2, err
    assert "Traceback" not in err and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith("error: ") and named.lower() in lines[0].lower(), err
    assert lines[1].startswith("Usage: ") and f" {command} " in lines[1], err
    assert not any(tmp_path.iterdir()), "a usage error must leave no file behind"


@pytest.mark.parametrize("args", [["runn"], ["--verbose"], ["run", "--n-trials", "abc", "x"]])
def test_unknown_command_or_top_level_option_is_one_line(capsys, args):
    code, out, err = hpsearch(capsys, *args)
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 2 and lines[0].startswith("error: "), err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "value"),
    [(["run", "--n-trials", "abc"], "'abc'"), (["dashboard", "--port=http"], "'http'")],
)
def test_a_bad_value_is_named(capsys, args, value):
    _, _, err = hpsearch(capsys, *args)
    assert value in err.splitlines()[0] and args[1].split("=")[0] in err.splitlines()[0], err


def test_a_typo_gets_click_s_hint(capsys):
    _, _, err = hpsearch(capsys, "runn")
    assert "'runn'" in err and "'run'" in err  # "No such command 'runn'. Did you mean 'run'?"


def _help(capsys, monkeypatch, *command: str) -> str:
    monkeypatch.setenv("COLUMNS", "100")
    code, out, err = hpsearch(capsys, *" ".join(command).split(), "--help")
    assert code == 0 and err == "", err
    return " ".join(out.split())  # unwrap the columns


def _config_defaults() -> dict[str, str]:
    """What ``[default: config, else X]`` must say: the config's own defaults."""
    from search._config import StudyConfig, TaskConfig

    study, task = StudyConfig(), TaskConfig()
    return {
        "--study": study.study,
        "--storage": study.storage,
        "--n-trials": str(study.n_trials),
        "--timeout": "no limit" if study.timeout is None else str(study.timeout),
        "--task": task.name,
        "--data": task.data,
        "--folds": str(study.folds),
        "--early-stopping": str(study.early_stopping),
        "--format": task.format,
        "--text-column": task.text_column,
        "--label-column": task.label_column,
        "--test-data": f"{task.test_fraction:.0%} of --data" if task.test_data is None else "",
        "--validation-data": f"{task.validation_fraction:.0%} of the training rows",
        "--vectors": "none" if task.vectors is None else task.vectors,
        "--epochs": str(study.epochs),
        "--device": study.device,
        "--cuda-graphs": study.cuda_graphs,
        "--seed": str(study.seed),
    }


@pytest.mark.parametrize("command", sorted(_commands()))
def test_help_shows_every_default_and_loses_no_word(capsys, monkeypatch, command):
    text = _help(capsys, monkeypatch, command)
    # What rich markup left of an eaten "[demo]": "()", a lone " ." or "[]".
    for blank in (r"\(\)", r"\s\.(\s|$)", r"\[\]", r"<bool>", r"default: \]"):
        assert not re.search(blank, text), f"{blank!r} in: {text}"
    assert "[baseline]" in text or "--enqueue-baseline" not in text
    config_defaults = _config_defaults()
    options = [p for p in _commands()[command].params if p.param_type_name == "option"]  # type: ignore[attr-defined]
    names = [next(o for o in p.opts if o.startswith("--")) for p in options]
    starts, position = [], text.index("Options:")
    for name in names:  # options are listed in declaration order
        position = text.index(f"{name} ", position)
        starts.append(position)
    for param, name, start, end in zip(
        options, names, starts, [*starts[1:], len(text)], strict=True
    ):
        described = text[start:end]
        if getattr(param, "is_flag", False) and param.default is False:
            continue  # a flag that is off unless given: nothing to show
        if param.required:
            assert "required" in described, described
        elif param.default is True and param.secondary_opts:
            assert f"default: {param.opts[0].lstrip('-')}" in described, described
        elif param.default is not None:
            assert f"default: {param.default}]" in described, described
        elif "default: config, else" in described:
            stated = re.search(r"default: config, else (.+?)\]", described)
            assert stated and stated.group(1) == config_defaults[name], (name, described)
        else:
            assert "[default: " in described, f"{name} does not say its default: {described}"


def test_worker_logging_can_be_turned_off(capsys, monkeypatch):
    text = _help(capsys, monkeypatch, "worker")
    assert "-v, --verbose / -q, --quiet" in text and "[default: verbose]" in text


LIGHT_START = """
import sys
sys.argv = ["hpsearch", *sys.argv[1:]]
from search import cli
try:
    cli.main()
except SystemExit:
    pass
heavy = ("torch", "sklearn", "pandas", "plotly", "matplotlib", "optuna", "sqlalchemy")
print("imported:", ",".join(m for m in heavy if m in sys.modules))
"""


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["run", "--n-trial", "3"]])
def test_help_and_usage_errors_import_nothing_heavy(args):
    result = subprocess.run(
        [sys.executable, "-c", LIGHT_START, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=process_env(),
    )
    assert result.stdout.strip().splitlines()[-1] == "imported:", result.stdout[-300:]


def test_python_m_search_cli_help_does_not_import_torch():
    probe = (
        "import runpy, sys; sys.argv = ['hpsearch', '--help']\n"
        "try:\n    runpy.run_module('search.cli', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('torch' in sys.modules, 'sklearn' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        env=process_env(),
    )
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout and result.stdout.strip().splitlines()[-1] == "False False"


def test_the_lazy_package_still_exports_every_name():
    import search
    import storage

    for package in (search, storage):
        for name in package.__all__:
            assert getattr(package, name) is not None, f"{package.__name__}.{name}"
