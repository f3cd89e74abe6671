from __future__ import annotations

import optuna
import pytest
from cli_helpers import hpsearch

from search import ConfigError, build_config, load_config

TOML = """
study = "mine"
n_trials = 7
epochs = 3
metric = "macro_f1"

[task]
data = "digits"

[pruner]
name = "successive_halving"
min_resource = 1

[space]
cell = {type = "categorical", choices = ["gru", "lstm"]}
hidden_size = 32
"""

YAML = """
study: mine
n_trials: 7
epochs: 3
metric: macro_f1
task: {data: digits}
pruner: {name: successive_halving, min_resource: 1}
space:
  cell: {type: categorical, choices: [gru, lstm]}
  hidden_size: 32
"""


@pytest.mark.parametrize(("name", "text"), [("study.toml", TOML), ("study.yaml", YAML)])
def test_toml_and_yaml_give_the_same_config(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    config = load_config(path)
    assert config.study == "mine" and config.n_trials == 7 and config.epochs == 3
    assert config.metric == ["macro_f1"] and config.direction == ["maximize"]
    assert isinstance(config.build_pruner(), optuna.pruners.SuccessiveHalvingPruner)
    space = config.to_dict()["space"]
    assert space["cell"]["choices"] == ["gru", "lstm"]  # narrowed
    assert space["hidden_size"] == 32  # fixed
    assert "lr" in space  # the rest of the task's default space stays


def test_flags_override_the_file(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text(TOML)
    config = load_config(path, study="other", n_trials=2, data="reviews.csv", text_column="review")
    assert (config.study, config.n_trials) == ("other", 2)
    assert config.task.data == "reviews.csv" and config.task.text_column == "review"
    assert "min_freq" in config.to_dict()["space"]  # text data searches the vocabulary too


def test_two_objectives_default_to_no_pruning_and_infer_directions():
    config = build_config({"metric": ["accuracy", "train_seconds"]})
    assert config.direction == ["maximize", "minimize"]
    assert isinstance(config.build_pruner(), optuna.pruners.NopPruner)


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (
            {"n_trails": 3},
            "unknown key 'n_trails' in the config; accepted: study, storage, n_trials",
        ),
        (
            {"task": {"name": "translation"}},
            "task 'translation' is not known; accepted: classification",
        ),
        ({"task": {"dta": "x"}}, r"unknown key 'dta' in \[task\]"),
        ({"metric": "bleu"}, "metric 'bleu' is not accepted; accepted: accuracy, macro_f1, loss"),
        ({"direction": "up"}, "direction 'up' is not accepted; accepted: maximize, minimize"),
        ({"sampler": {"name": "annealing"}}, "sampler 'annealing' is not known; accepted: tpe"),
        (
            {"pruner": {"name": "median", "n_warmup": 2}},
            "pruner 'median' has no setting 'n_warmup'; accepted: n_startup_trials",
        ),
        ({"pruner": {"name": "percentile"}}, "pruner 'percentile'"),
        (
            {"metric": ["accuracy", "train_seconds"], "pruner": {"name": "median"}},
            "Optuna does not prune multi-objective studies",
        ),
        ({"n_trials": 0}, "n_trials must be at least 1, but got 0"),
        ({"early_stopping": -1}, "early_stopping must be at least 0, but got -1"),
        ({"early_stopping": 2.5}, "early_stopping must be a whole number, but got 2.5"),
        (
            {"task": {"validation_fraction": 1.2}},
            "task.validation_fraction must be between 0 and 1, but got 1.2",
        ),
        ({"task": {"test_fraction": 0}}, "task.test_fraction must be between 0 and 1, but got 0"),
        (
            {"task": {"tag_column": 2}},
            r"task.tag_column is not read by task 'classification' \(the ner and pos tasks read",
        ),
        (
            {"space": {"cell": {"type": "categorical", "choices": ["gru", "cnn"]}}},
            "space.cell value 'cnn' is not accepted; accepted: rnn, gru, lstm",
        ),
        (
            {"space": {"hidden_size": {"type": "int", "low": 256, "high": 16}}},
            "low \\(256\\) must not be greater than high \\(16\\)",
        ),
        ({"device": "tpu"}, "device 'tpu' is not accepted"),
        (
            {"device": "cuda:x"},
            "device 'cuda:x' is not accepted; accepted: auto, cpu, cuda, cuda:N",
        ),
    ],
)
def test_bad_values_name_themselves_and_what_is_accepted(layer, message):
    with pytest.raises(ConfigError, match=message):
        build_config(layer)


def test_unparsable_or_unknown_files_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("study = [")
    with pytest.raises(ConfigError, match="does not parse"):
        load_config(bad)
    with pytest.raises(ConfigError, match="extension '.ini'"):
        (tmp_path / "x.ini").write_text("")
        load_config(tmp_path / "x.ini")


@pytest.mark.parametrize(
    ("name", "text", "mode"),
    [
        ("s.toml", 'cuda_graphs = "off"\n', "off"),
        ("s.yaml", "cuda_graphs: off\n", "off"),  # YAML 1.1 reads a bare off as false
        ("s.yaml", "cuda_graphs: on\n", "on"),
        ("s.json", '{"cuda_graphs": "auto"}', "auto"),
        ("s.toml", "", "auto"),
    ],
)
def test_cuda_graphs_setting_reads_from_every_format_and_is_stored(tmp_path, name, text, mode):
    (tmp_path / name).write_text(text)
    config = load_config(tmp_path / name)
    assert config.cuda_graphs == mode
    assert config.to_dict()["cuda_graphs"] == mode
    with pytest.raises(ConfigError, match="cuda_graphs 'sometimes' is not accepted"):
        load_config(tmp_path / name, cuda_graphs="sometimes")


@pytest.mark.parametrize(
    ("name", "spec"),
    [
        ("ngrams", "2"),
        ("ngrams", '{type = "categorical", choices = [0, 2]}'),
        ("word_dropout", '{type = "float", low = 0.0, high = 0.2}'),
    ],
)
def test_word_level_settings_on_the_digits_are_a_usage_error_before_any_trial(
    tmp_path, capsys, name, spec
):
    (tmp_path / "c.toml").write_text(f"[space]\n{name} = {spec}\n")
    url = f"sqlite:///{tmp_path}/s.db"
    code, _, err = hpsearch(
        capsys, "run", "--config", str(tmp_path / "c.toml"), "--storage", url, "--no-progress"
    )
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [
        f"error: space.{name} needs token inputs (text data), but 'digits' has float "
        f"features; leave {name} out of the space or use text data"
    ]
    assert optuna.get_all_study_summaries(url) == []  # nothing was created, nothing ran
