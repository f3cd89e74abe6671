"""CUDA-graph training steps: the padded math they replay, when they apply, and (on a GPU)
that replayed training matches eager training.

The CPU tests check everything a graph replays except the capture itself: padded steps give
the packed results, batch widths come in few shapes, schedules move a device-tensor rate in
place, and the objective says per trial why graphs are off. The tests marked ``cuda`` need a
GPU (run them on the GPU machine); CI has none and skips them.
"""

from __future__ import annotations

import optuna
import pytest
import torch

from objectives import (
    CharEncoderConfig,
    ClassifierConfig,
    EncoderConfig,
    ObjectiveError,
    ObjectiveSettings,
    ScheduleConfig,
    SequenceClassifier,
    SequenceTagger,
    TaggerConfig,
    build_classifier,
    evaluate,
    graphs_unavailable,
    load_classification_data,
)
from objectives._graphs import CudaGraphSteps, graph_width, padded_steps, padded_steps_unsupported
from objectives._objective import ClassificationObjective
from objectives._schedules import LRSchedule
from objectives._training import OptimizerConfig, TrainSteps, train_epoch

cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU (run on the GPU machine)"
)


def _batch(vocabulary: int = 30, width: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids ``[5, width]`` padded with zeros after lengths 1..12."""
    lengths = torch.tensor([12, 1, 7, 3, 9])
    tokens = torch.randint(1, vocabulary, (5, width))
    tokens[torch.arange(width)[None, :] >= lengths[:, None]] = 0
    return tokens, lengths


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("aggregation", ["last", "mean", "max"])
def test_padded_steps_give_the_packed_results(cell, aggregation):
    torch.manual_seed(0)
    encoder = EncoderConfig(
        cell=cell, hidden_size=8, num_layers=2, embedding_dim=6, vocabulary_size=30
    )
    model = SequenceClassifier(ClassifierConfig(encoder, n_classes=3, aggregation=aggregation))
    model.eval()
    tokens, lengths = _batch(width=16)  # 4 steps wider than the longest, as graphs cut
    packed = model(tokens, lengths)
    with padded_steps(model):
        padded = model(tokens, lengths)
    torch.testing.assert_close(padded, packed)
    assert model.encoder.pack_sequences  # restored after the block


def test_padded_steps_give_the_packed_tags_with_character_cnn():
    torch.manual_seed(0)
    chars = CharEncoderConfig(n_characters=10, hidden_size=4, kind="cnn")
    encoder = EncoderConfig(
        cell="lstm",
        hidden_size=8,
        embedding_dim=6,
        vocabulary_size=30,
        extra_features=chars.output_size,
    )
    model = SequenceTagger(TaggerConfig(encoder, n_tags=5, chars=chars)).eval()
    tokens, lengths = _batch()
    characters = torch.randint(1, 10, (5, 12, 4)) * (tokens != 0).unsqueeze(-1)
    packed = model(tokens, lengths, characters)
    with padded_steps(model):
        padded = model(tokens, lengths, characters)
    present = tokens != 0
    torch.testing.assert_close(padded[present], packed[present])


def test_models_that_need_packing_are_refused_with_the_reason():
    bidirectional = SequenceClassifier(
        ClassifierConfig(EncoderConfig(bidirectional=True, vocabulary_size=10), n_classes=2)
    )
    assert "bidirectional" in padded_steps_unsupported(bidirectional)
    with pytest.raises(ValueError, match="bidirectional"), padded_steps(bidirectional):
        pass
    chars = CharEncoderConfig(n_characters=10, hidden_size=4, kind="rnn")
    tagger = SequenceTagger(
        TaggerConfig(EncoderConfig(vocabulary_size=10, extra_features=chars.output_size), 3, chars)
    )
    assert "character RNN" in padded_steps_unsupported(tagger)


def test_graph_widths_cover_every_length_in_few_shapes_with_little_padding():
    widths = [graph_width(n, 600) for n in range(1, 601)]
    assert all(n <= w <= 600 for n, w in zip(range(1, 601), widths, strict=True))
    assert widths == sorted(widths)
    assert len(set(widths)) <= 40  # one graph per width: few captures per trial
    assert all(w <= 1.25 * n for n, w in zip(range(1, 601), widths, strict=True) if n >= 32)
    assert graph_width(100, 90) == 90  # never wider than the data


@pytest.mark.parametrize(
    ("optimizer", "schedule", "bidirectional", "device", "reason"),
    [
        ("adam", "cosine", False, "cuda", None),
        ("sgd", "none", False, "cuda:0", None),
        ("adam", "none", False, "cpu", "not on a CUDA device"),
        ("adam", "none", True, "cuda", "bidirectional encoder"),
        ("adamw", "onecycle", False, "cuda", "one-cycle"),
        ("sgd", "step", False, "cuda", "SGD's learning rate"),
    ],
)
def test_graphs_are_used_only_where_a_replay_is_exact(
    optimizer, schedule, bidirectional, device, reason
):
    model = SequenceClassifier(
        ClassifierConfig(EncoderConfig(bidirectional=bidirectional, vocabulary_size=10), 2)
    )
    found = graphs_unavailable(
        model, OptimizerConfig(optimizer=optimizer), ScheduleConfig(schedule), device
    )
    assert found is None if reason is None else reason in found


@pytest.mark.parametrize(
    "config",
    [
        ScheduleConfig("cosine"),
        ScheduleConfig("step", step_size=2, gamma=0.5),
        ScheduleConfig("multistep", milestones="2,4", gamma=0.1, warmup_epochs=1),
        ScheduleConfig("plateau", patience=0, gamma=0.5),
        ScheduleConfig("none", warmup_epochs=2),
    ],
)
def test_schedules_move_a_tensor_rate_in_place_as_they_move_a_number(config):
    """A graph reads the rate tensor it captured: schedules must update that very tensor."""

    def rates(lr: float | torch.Tensor) -> list[float]:
        weight = torch.zeros(1, requires_grad=True)
        optimizer = torch.optim.Adam([weight], lr=lr, foreach=False)
        captured = optimizer.param_groups[0]["lr"]
        schedule = LRSchedule(optimizer, config, epochs=6, steps_per_epoch=2)
        seen = []
        for _ in range(6):
            weight.grad = torch.ones(1)
            optimizer.step()
            schedule.after_epoch(0.5)
            if isinstance(lr, torch.Tensor):
                assert optimizer.param_groups[0]["lr"] is captured
            seen.append(float(optimizer.param_groups[0]["lr"]))
        return seen

    assert rates(torch.tensor(1e-2)) == pytest.approx(rates(1e-2))


def test_padded_training_with_graph_widths_matches_packed_training():
    """The arithmetic a graph replays, run eagerly on the CPU: same loss, same accuracy."""
    data = load_classification_data("digits")
    params = {"cell": "gru", "hidden_size": 16, "lr": 1e-2, "dropout": 0.0, "batch_size": 32}

    def train(padded: bool) -> tuple[float, float]:
        torch.manual_seed(0)
        model, config = build_classifier(params, data)
        optimizer = config.build(model)
        steps = TrainSteps(model, optimizer, config)
        generator = torch.Generator().manual_seed(0)
        if padded:
            steps.width = graph_width
            with padded_steps(model):
                loss = train_epoch(steps, data.train, generator)
        else:
            loss = train_epoch(steps, data.train, generator)
        return float(loss), evaluate(model, data.validation, 10)["accuracy"]

    (packed_loss, packed_accuracy), (padded_loss, padded_accuracy) = train(False), train(True)
    assert padded_loss == pytest.approx(packed_loss, rel=1e-4)
    assert padded_accuracy == pytest.approx(packed_accuracy, abs=0.01)


def test_graph_steps_refuse_a_cpu_model():
    model, config = build_classifier({"cell": "gru"}, load_classification_data("digits"))
    with pytest.raises(ObjectiveError, match="CUDA graphs need a CUDA device"):
        CudaGraphSteps(model, config.build(model), config)


def test_on_needs_cuda_and_bad_modes_are_named():
    with pytest.raises(ObjectiveError, match="cuda_graphs 'on' needs a CUDA device"):
        ObjectiveSettings(device="cpu", cuda_graphs="on")
    with pytest.raises(ObjectiveError, match="cuda_graphs 'yes' is not accepted; accepted: auto"):
        ObjectiveSettings(cuda_graphs="yes")  # type: ignore[arg-type]


def test_each_trial_records_why_graphs_are_off():
    data = load_classification_data("digits")
    params = {"cell": "gru", "hidden_size": 8, "epochs": 1}
    study = optuna.create_study(direction="maximize")
    study.optimize(
        ClassificationObjective(data, lambda _: params, ObjectiveSettings(max_epochs=1)),
        n_trials=1,
    )
    assert study.trials[0].user_attrs["cuda_graphs"] == "off: not on a CUDA device"


def _cuda_digits():
    data = load_classification_data("digits")
    return data.train.to("cuda"), data.validation.to("cuda")


@cuda
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_replayed_training_matches_eager_padded_training(cell):
    train, validation = _cuda_digits()
    data = load_classification_data("digits")
    params = {"cell": cell, "hidden_size": 32, "lr": 1e-2, "batch_size": 32, "grad_clip": 1.0}

    def run(graphs: bool) -> tuple[list[float], float, int]:
        torch.manual_seed(0)
        model, config = build_classifier(params, data)
        model = model.cuda()
        optimizer = config.build(model, capturable=True)
        steps: TrainSteps
        if graphs:
            steps = CudaGraphSteps(model, optimizer, config)
        else:
            steps = TrainSteps(model, optimizer, config)
            steps.width = graph_width
        generator = torch.Generator().manual_seed(0)
        losses = []
        for _ in range(3):
            if graphs:
                loss = train_epoch(steps, train, generator)
            else:
                with padded_steps(model):
                    loss = train_epoch(steps, train, generator)
            losses.append(float(loss))
        captured = steps.captured if isinstance(steps, CudaGraphSteps) else 0
        assert not isinstance(steps, CudaGraphSteps) or steps.fallback is None, steps.fallback
        return losses, evaluate(model, validation, 10)["accuracy"], captured

    eager_losses, eager_accuracy, _ = run(False)
    graph_losses, graph_accuracy, captured = run(True)
    assert captured >= 1
    assert graph_losses == pytest.approx(eager_losses, rel=1e-3)
    assert graph_accuracy == pytest.approx(eager_accuracy, abs=0.02)


@cuda
def test_a_schedule_reaches_the_replayed_steps():
    """Rate 0 after the first epoch: replayed steps must stop moving the weights."""
    train, _ = _cuda_digits()
    data = load_classification_data("digits")
    model, config = build_classifier({"cell": "gru", "hidden_size": 16, "lr": 1e-2}, data)
    model = model.cuda()
    optimizer = config.build(model, capturable=True)
    steps = CudaGraphSteps(model, optimizer, config)
    generator = torch.Generator().manual_seed(0)
    for _ in range(2):  # capture every width
        train_epoch(steps, train, generator)
    assert steps.captured >= 1
    torch.optim.lr_scheduler.StepLR(optimizer, 1, gamma=0.0).step()
    before = [p.detach().clone() for p in model.parameters()]
    train_epoch(steps, train, generator)
    for old, new in zip(before, model.parameters(), strict=True):
        torch.testing.assert_close(new, old, rtol=0, atol=0)


@cuda
def test_a_trial_on_cuda_records_its_graphs():
    data = load_classification_data("digits")
    params = {"cell": "gru", "hidden_size": 16, "epochs": 2, "batch_size": 32}
    study = optuna.create_study(direction="maximize")
    settings = ObjectiveSettings(max_epochs=2, device="cuda", cuda_graphs="on")
    study.optimize(ClassificationObjective(data, lambda _: params, settings), n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert trial.user_attrs["cuda_graphs"].startswith("on ("), trial.user_attrs["cuda_graphs"]
    assert trial.value > 0.5


@cuda
def test_a_trial_on_cuda_graphs_follows_its_schedule():
    """The trial loop steps the schedule and replayed steps read the rate it set."""
    data = load_classification_data("digits")
    params = {
        **{"cell": "gru", "hidden_size": 16, "epochs": 3, "batch_size": 32, "lr": 1e-2},
        **{"scheduler": "step", "step_size": 1, "gamma": 0.5},
    }
    study = optuna.create_study(direction="maximize")
    settings = ObjectiveSettings(max_epochs=3, device="cuda", cuda_graphs="on")
    study.optimize(ClassificationObjective(data, lambda _: params, settings), n_trials=1)
    trial = study.trials[0]
    assert trial.user_attrs["cuda_graphs"].startswith("on ("), trial.user_attrs["cuda_graphs"]
    assert [h["lr"] for h in trial.user_attrs["val_history"]] == pytest.approx([1e-2, 5e-3, 2.5e-3])
