"""Search-space pieces shared by the built-in tasks' default spaces."""

from __future__ import annotations

from typing import Any


def schedule_space(epochs: int = 15) -> dict[str, Any]:
    """Learning-rate schedules as a searched choice, each with its own conditional settings."""
    half, three_quarters = max(1, epochs // 2), max(2, (3 * epochs) // 4)
    if three_quarters <= half:
        three_quarters = half + 1
    return {
        "scheduler": {
            "type": "categorical",
            "choices": ["none", "cosine", "step", "multistep", "onecycle", "plateau"],
        },
        "step_size": {
            "type": "int",
            "low": 1,
            "high": max(1, epochs // 2),
            "when": {"scheduler": ["step"]},
        },
        "milestones": {
            "type": "categorical",
            "choices": [f"{half},{three_quarters}"],
            "when": {"scheduler": ["multistep"]},
        },
        "gamma": {
            "type": "float",
            "low": 0.1,
            "high": 0.9,
            "when": {"scheduler": ["step", "multistep", "plateau"]},
        },
        "pct_start": {
            "type": "float",
            "low": 0.1,
            "high": 0.5,
            "when": {"scheduler": ["onecycle"]},
        },
        "patience": {"type": "int", "low": 0, "high": 3, "when": {"scheduler": ["plateau"]}},
        "warmup_epochs": {
            "type": "int",
            "low": 0,
            "high": 2,
            "when": {"scheduler": ["none", "cosine", "step", "multistep", "plateau"]},
        },
    }


def optimizer_space(lr_high: float, batch_sizes: list[int]) -> dict[str, Any]:
    """Optimizer, learning rate, weight decay (AdamW only), batch size and clipping."""
    return {
        "optimizer": {"type": "categorical", "choices": ["adam", "adamw"]},
        "lr": {"type": "float", "low": 1e-4, "high": lr_high, "log": True},
        "weight_decay": {
            "type": "float",
            "low": 1e-6,
            "high": 1e-2,
            "log": True,
            "when": {"optimizer": ["adamw"]},
        },
        "batch_size": {"type": "categorical", "choices": batch_sizes},
        "grad_clip": {"type": "categorical", "choices": [0.0, 1.0, 5.0]},
    }


def encoder_space() -> dict[str, Any]:
    """The recurrent encoder: cell, width, depth, direction, dropout, embedding width."""
    return {
        "cell": {"type": "categorical", "choices": ["rnn", "gru", "lstm"]},
        "hidden_size": {"type": "int", "low": 16, "high": 256, "log": True},
        "num_layers": {"type": "int", "low": 1, "high": 2},
        "bidirectional": {"type": "categorical", "choices": [False, True]},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5},
        "embedding_dim": {"type": "int", "low": 16, "high": 128, "log": True},
    }
