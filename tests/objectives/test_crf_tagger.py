"""The CRF tagger: old checkpoints still load, and its steps are ready for CUDA graphs."""

from __future__ import annotations

import pytest
import torch

from objectives import EncoderConfig, SequenceTagger, TaggerConfig, graphs_unavailable
from objectives._graphs import CudaGraphSteps, graph_width, padded_steps
from objectives._schedules import ScheduleConfig
from objectives._training import OptimizerConfig, TrainSteps, train_epoch
from objectives.data import SplitSettings
from objectives.data._readers import TaggedCorpus
from objectives.data._tagged import build_tagging_data

ROWS = [
    (["John", "lives", "in", "Kyiv", "."], ["B-PER", "O", "O", "B-LOC", "O"]),
    (["Mary", "Smith", "visited", "Paris", "with", "Anna", "Smith"], ["B-PER", "I-PER", "O", "B-LOC", "O", "B-PER", "I-PER"]),
    (["Anna", "went", "home"], ["B-PER", "O", "O"]),
]  # fmt: skip


def _data():
    rows = ROWS * 12
    corpus = TaggedCorpus([list(s) for s, _ in rows], [list(t) for _, t in rows], "toy")
    return build_tagging_data(corpus, None, kind="ner", split=SplitSettings(seed=0))


def _tagger(n_tags: int, vocabulary: int) -> SequenceTagger:
    encoder = EncoderConfig(cell="gru", hidden_size=8, embedding_dim=8, vocabulary_size=vocabulary)
    return SequenceTagger(TaggerConfig(encoder, n_tags=n_tags, crf=True))


def test_a_checkpoint_config_from_before_the_crf_loads_without_one():
    config = TaggerConfig(EncoderConfig(vocabulary_size=10), n_tags=3)
    old = config.to_dict()
    del old["crf"]
    assert TaggerConfig.from_dict(old) == config
    assert SequenceTagger(TaggerConfig.from_dict({**old, "crf": True})).crf is not None


def test_a_unidirectional_crf_tagger_stays_eligible_for_graphs():
    model = _tagger(4, 10)
    assert graphs_unavailable(model, OptimizerConfig(), ScheduleConfig(), "cuda") is None


def test_crf_loss_on_graph_widths_matches_packed_training():
    """What a graph replays, run eagerly: padded columns past the batch's longest sentence
    (labels ignored) change neither the CRF loss nor the trained weights."""
    data = _data()
    config = OptimizerConfig(lr=1e-2, batch_size=8)

    def train(padded: bool) -> tuple[float, torch.Tensor]:
        torch.manual_seed(0)
        model = _tagger(len(data.label_names), data.vocabulary_size(1))
        steps = TrainSteps(model, config.build(model), config)
        generator = torch.Generator().manual_seed(0)
        if padded:
            steps.width = lambda longest, full: full  # every batch as wide as the widest
            with padded_steps(model):
                loss = train_epoch(steps, data.train, generator)
        else:
            loss = train_epoch(steps, data.train, generator)
        assert model.crf is not None
        return float(loss), model.crf.transitions.detach().clone()

    (packed_loss, packed_weights), (padded_loss, padded_weights) = train(False), train(True)
    assert packed_loss == pytest.approx(padded_loss, rel=1e-5)
    torch.testing.assert_close(padded_weights, packed_weights, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_replayed_crf_training_matches_eager_padded_training():
    data = _data()
    train = data.train.to("cuda")
    config = OptimizerConfig(lr=1e-2, batch_size=8)

    def run(graphs: bool) -> tuple[list[float], int]:
        torch.manual_seed(0)
        model = _tagger(len(data.label_names), data.vocabulary_size(1)).cuda()
        optimizer = config.build(model, capturable=True)
        steps: TrainSteps = (
            CudaGraphSteps(model, optimizer, config)
            if graphs
            else TrainSteps(model, optimizer, config)
        )
        steps.width = graph_width
        generator = torch.Generator().manual_seed(0)
        losses = []
        for _ in range(3):
            if graphs:
                losses.append(float(train_epoch(steps, train, generator)))
            else:
                with padded_steps(model):
                    losses.append(float(train_epoch(steps, train, generator)))
        assert not isinstance(steps, CudaGraphSteps) or steps.fallback is None, steps.fallback
        return losses, steps.captured if isinstance(steps, CudaGraphSteps) else 0

    eager, _ = run(False)
    replayed, captured = run(True)
    assert captured >= 1
    assert replayed == pytest.approx(eager, rel=1e-3)
