"""Sequence tagging: one tag per token (named entities or parts of speech)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from torch import nn

from objectives._checkpoint import encode_sentences
from objectives._metrics import EntityMetrics, MetricAccumulator, TokenMetrics
from objectives._tagger_model import CharEncoderConfig, SequenceTagger, TaggerConfig
from objectives.data import SequenceSplit, SplitSettings, TaggingData, load_tagging_data
from objectives.errors import ObjectiveError
from objectives.tasks._base import TRAINING_PARAMETERS, Task, TaskConfig, field_defaults
from objectives.tasks._pretrained import vector_space
from objectives.tasks._recurrent import (
    ENCODER_PARAMETERS,
    TEXT_PARAMETERS,
    RecurrentTask,
    best_ids,
    read_lines,
)
from objectives.tasks._spaces import encoder_space, optimizer_space, schedule_space

TAGGING_PARAMETERS: dict[str, Any] = {
    **ENCODER_PARAMETERS,
    "char_embedding_dim": 0,  # no character vectors unless a trial asks for them
    **field_defaults(
        CharEncoderConfig, {"kind": "char_encoder", "hidden_size": "char_hidden_size"}
    ),
    **field_defaults(TaggerConfig, ("crf",)),
    **TRAINING_PARAMETERS,
    **TEXT_PARAMETERS,
}
"""Hyperparameters of the NER and POS taggers (``char_embedding_dim=0``: no characters;
``crf=False``: one softmax per token, no CRF output layer)."""


class TaggingTask(RecurrentTask):
    """One tag per token: the recurrent encoder, optional character vectors, a tag head."""

    kind: ClassVar[Literal["ner", "pos"]]
    parameters = TAGGING_PARAMETERS
    checkpoint_kind = "sequence_tagger"
    reads_tag_column = True
    data: TaggingData

    @classmethod
    def default_space(cls, config: TaskConfig, epochs: int) -> dict[str, Any]:
        with_chars = [16, 32, 48, 64]
        space = {
            **encoder_space(),
            "char_embedding_dim": {"type": "int", "low": 0, "high": 64, "step": 16},
            "char_encoder": {
                "type": "categorical",
                "choices": ["cnn", "rnn"],
                "when": {"char_embedding_dim": with_chars},
            },
            "char_hidden_size": {
                "type": "int",
                "low": 16,
                "high": 64,
                "step": 16,
                "when": {"char_embedding_dim": with_chars},
            },
            **optimizer_space(1e-2, [16, 32, 64]),
            "min_freq": {"type": "int", "low": 1, "high": 3},
            **schedule_space(epochs),
        }
        return vector_space(config, space)

    @classmethod
    def load(cls, config: TaskConfig, split: SplitSettings) -> Task:
        data = load_tagging_data(
            config.data,
            kind=cls.kind,
            test_data=config.test_data,
            validation_data=config.validation_data,
            tag_column=config.tag_column,
            max_length=config.max_length,
            split=split,
        )
        return cls(data).use_vectors(config.vectors)

    def __init__(self, data: TaggingData) -> None:
        if not isinstance(data, TaggingData):
            raise ObjectiveError(
                f"task {self.name!r} needs tagged sentences, but {data.source!r} was loaded as "
                "classification data; use --task classification"
            )
        super().__init__(data)

    def build_model(self, p: Mapping[str, Any]) -> nn.Module:
        chars = None
        if int(p["char_embedding_dim"]) > 0:
            chars = CharEncoderConfig(
                n_characters=len(self.data.characters or ()),
                embedding_dim=int(p["char_embedding_dim"]),
                hidden_size=int(p["char_hidden_size"]),
                kind=p["char_encoder"],
            )
        extra = 0 if chars is None else chars.output_size
        config = TaggerConfig(
            encoder=self.encoder_config(p, extra),
            n_tags=len(self.label_names),
            chars=chars,
            crf=bool(p["crf"]),
        )
        return self.init_embeddings(SequenceTagger(config), p)

    @classmethod
    def rebuild_model(cls, checkpoint: Mapping[str, Any]) -> nn.Module:
        return SequenceTagger(TaggerConfig.from_dict(checkpoint["model_config"]))

    @classmethod
    def predict(cls, model: nn.Module, info: Mapping[str, Any], path: Path) -> list[str]:
        """A line of tags, one per whitespace-separated token of each input line."""
        sentences = [line.split() for line in read_lines(path)]
        kept = [s for s in sentences if s]
        tagged: list[list[str]] = []
        if kept:
            ids, lengths, chars = encode_sentences(kept, dict(info))
            names = info["label_names"]
            for row, length in zip(
                best_ids(model, ids, lengths, chars), lengths.tolist(), strict=True
            ):
                tagged.append([names[i] for i in row[:length].tolist()])
        rows = iter(tagged)
        # Tokens past the model's max_length get no tag; empty lines stay empty.
        return [" ".join(next(rows)) if s else "" for s in sentences]


class NerTask(TaggingTask):
    """Named entities in IOB1/IOB2 tags, scored by entity-level micro F1 (seqeval)."""

    name = "ner"
    kind = "ner"
    metrics = ("f1", "precision", "recall", "accuracy", "loss")

    def __init__(self, data: TaggingData) -> None:
        super().__init__(data)
        if data.scheme is None:
            raise ObjectiveError(f"{data.source}: NER needs IOB tags (loaded as POS data)")

    def new_metrics(self, split: SequenceSplit) -> MetricAccumulator:
        assert self.data.scheme is not None  # checked when the task was made
        return EntityMetrics(split, self.label_names, self.data.scheme)


class PosTask(TaggingTask):
    """Parts of speech (or any per-token tags), scored by token accuracy and top-3."""

    name = "pos"
    kind = "pos"
    metrics = ("accuracy", "top3_accuracy", "loss")

    def new_metrics(self, split: SequenceSplit) -> MetricAccumulator:
        return TokenMetrics(split.labels.device, top_k=3)
