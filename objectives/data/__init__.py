"""Reading datasets into tensors once per process: splits, texts, tagged corpora, tables."""

from __future__ import annotations

from objectives.data._formats import TEXT_FORMATS, TextFormat
from objectives.data._splits import SplitSettings
from objectives.data._tabular import (
    TabularData,
    TabularPreprocessor,
    load_tabular_builtin,
    load_tabular_csv,
)
from objectives.data._tagged import TaggingData, encode_sentences, load_tagging_data
from objectives.data._text import (
    BUILTIN_DATASETS,
    ClassificationData,
    SequenceSplit,
    concat_splits,
    tokenize,
)
from objectives.data._text_files import load_classification_data
from objectives.data._vectors import WordVectors, load_vectors, read_vectors

__all__ = [
    "BUILTIN_DATASETS",
    "TEXT_FORMATS",
    "ClassificationData",
    "SequenceSplit",
    "SplitSettings",
    "TabularData",
    "TabularPreprocessor",
    "TaggingData",
    "TextFormat",
    "WordVectors",
    "concat_splits",
    "encode_sentences",
    "load_classification_data",
    "load_tabular_builtin",
    "load_tabular_csv",
    "load_tagging_data",
    "load_vectors",
    "read_vectors",
    "tokenize",
]
