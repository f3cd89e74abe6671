"""Token-tagging corpora from Hugging Face datasets: ``tokens`` and a tag column per row."""

from __future__ import annotations

from typing import Any

from objectives.data._readers import TaggedCorpus, non_empty
from objectives.errors import ObjectiveError


def tagged_corpus_from_hf(dataset_split: Any, tag_column: str) -> TaggedCorpus:
    """Turn a loaded Hugging Face split with ``tokens`` and a tag column into a corpus.

    Integer tag ids are mapped to names through the split's
    ``features[tag_column].feature.names`` (a sequence of ``ClassLabel``); a column that
    already holds strings is used as is.

    Args:
        dataset_split: A ``datasets.Dataset`` (one split, already loaded).
        tag_column: The tag column, usually ``"ner_tags"`` or ``"pos_tags"``.

    Returns:
        The corpus, one entry per row.

    Raises:
        ObjectiveError: A missing column, integer tags without class names, or a row
            whose token and tag counts differ.
    """
    columns = list(dataset_split.column_names)
    for column in ("tokens", tag_column):
        if column not in columns:
            raise ObjectiveError(
                f"dataset has no column {column!r}; available columns: {', '.join(columns)}."
            )
    dataset_name = getattr(getattr(dataset_split, "info", None), "dataset_name", None)
    source = f"hf:{dataset_name or 'dataset'}"
    feature = dataset_split.features[tag_column]
    names: list[str] | None = getattr(getattr(feature, "feature", None), "names", None)

    sentences = [list(map(str, tokens)) for tokens in dataset_split["tokens"]]
    tags: list[list[str]] = []
    for row, row_tags in enumerate(dataset_split[tag_column]):
        if names is not None:
            try:
                tags.append([names[tag_id] for tag_id in row_tags])
            except (IndexError, TypeError):
                raise ObjectiveError(
                    f"row {row} of column {tag_column!r} has tag ids {list(row_tags)[:10]} "
                    f"outside the {len(names)} class names {names[:10]}."
                ) from None
        elif all(isinstance(tag, str) for tag in row_tags):
            tags.append(list(row_tags))
        else:
            raise ObjectiveError(
                f"column {tag_column!r} holds integer ids but its feature {feature} has no "
                "ClassLabel names; accepted: a sequence of ClassLabel or of strings."
            )
        if len(tags[-1]) != len(sentences[row]):
            raise ObjectiveError(
                f"row {row} has {len(sentences[row])} tokens but {len(tags[-1])} "
                f"{tag_column}; each token needs one tag."
            )
    return non_empty(TaggedCorpus(sentences, tags, source))


def load_tagged_hf(
    name: str, split: str, tag_column: str, *, config: str | None = None
) -> TaggedCorpus:
    """Load one split of a token-tagging dataset from the Hugging Face hub.

    Args:
        name: Dataset name on the hub, for example ``"conll2003"``.
        split: The split, for example ``"validation"``.
        tag_column: ``"ner_tags"``, ``"pos_tags"`` or another tag column.
        config: Optional dataset configuration name.

    Returns:
        The corpus, one entry per row.

    Raises:
        ObjectiveError: The ``datasets`` package is missing, or see
            :func:`tagged_corpus_from_hf`.
    """
    try:
        import datasets
    except ImportError:
        raise ObjectiveError(
            "loading from the Hugging Face hub needs the 'datasets' package; "
            "install it with `pip install datasets`."
        ) from None
    dataset_split = datasets.load_dataset(name, config, split=split)
    corpus = tagged_corpus_from_hf(dataset_split, tag_column)
    corpus.source = f"hf:{name}{'/' + config if config else ''}[{split}]"
    return corpus
