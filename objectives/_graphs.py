"""Training steps replayed from CUDA graphs: one graph per batch shape (length bucket).

A small recurrent model spends most of a step launching kernels, not running them. A CUDA
graph records one whole step (forward, backward, clipping, optimizer update, loss sums) and
replays it with a single launch. Graphs need fixed shapes and fixed addresses, so here:

- batches are cut to one of a few widths (:func:`graph_width`), and each (batch size,
  width) gets its own graph, captured the second time that shape comes up (the first runs
  eagerly and warms up the kernels, the optimizer state and the gradients);
- each batch is copied into that graph's static input tensors before its replay;
- gradients, optimizer state and loss sums live outside the graphs and are updated in
  place, so eager steps (the last, smaller batch of an epoch) and replays share them;
- the learning rate is a device tensor (capturable Adam/AdamW) that schedules update in
  place between epochs, so replays see the new rate.

Every real batch trains exactly once, whether it runs eagerly, is captured (then replayed)
or is replayed. What cannot be captured falls back to eager steps
(:func:`graphs_unavailable` says why up front; a capture that fails at run time disables
graphs for the rest of the trial and says so in :attr:`CudaGraphSteps.fallback`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import nn

from objectives._models import RecurrentEncoder
from objectives._schedules import ScheduleConfig
from objectives._tagger_model import CharEncoder
from objectives._training import OptimizerConfig, TrainSteps
from objectives.data._text import Batch
from objectives.errors import ObjectiveError
from storage.errors import first_line

GraphMode = Literal["auto", "on", "off"]
GRAPH_MODES: tuple[str, ...] = get_args(GraphMode)

_log = logging.getLogger(__name__)


def padded_steps_unsupported(model: nn.Module) -> str | None:
    """Why ``model`` cannot run :func:`padded_steps`, or ``None`` when it can."""
    for module in model.modules():
        if isinstance(module, RecurrentEncoder) and module.config.bidirectional:
            return "a bidirectional encoder reads packed sequences, whose shape varies per batch"
        if isinstance(module, CharEncoder) and module.rnn is not None:
            return "the character RNN reads packed sequences, whose shape varies per batch"
    return None


@contextmanager
def padded_steps(model: nn.Module) -> Iterator[None]:
    """Run ``model``'s encoders over padded batches, without packing, inside the block.

    Raises:
        ValueError: ``model`` has a part that needs packing (see
            :func:`padded_steps_unsupported`).
    """
    reason = padded_steps_unsupported(model)
    if reason is not None:
        raise ValueError(reason)
    encoders = [m for m in model.modules() if isinstance(m, RecurrentEncoder)]
    for encoder in encoders:
        encoder.pack_sequences = False
    try:
        yield
    finally:
        for encoder in encoders:
            encoder.pack_sequences = True


def check_graph_mode(mode: object) -> GraphMode:
    """``mode`` if it is one of ``auto``, ``on``, ``off``.

    Raises:
        ObjectiveError: Any other value.
    """
    if mode not in GRAPH_MODES:
        raise ObjectiveError(
            f"cuda_graphs {mode!r} is not accepted; accepted: {', '.join(GRAPH_MODES)}"
        )
    return mode  # type: ignore[return-value]


def graph_width(longest: int, full: int) -> int:
    """The batch width a graph covers: ``longest`` rounded up, at most ``full``.

    Widths are multiples of an eighth of the enclosing power of two (at least 8): about
    five graphs per doubling of length, at most a quarter of the steps spent on padding.
    """
    step = max(8, 1 << max(0, longest.bit_length() - 3))
    return min(full, -(-longest // step) * step)


def graphs_unavailable(
    model: nn.Module,
    optimizer: OptimizerConfig,
    schedule: ScheduleConfig,
    device: torch.device | str,
) -> str | None:
    """Why this trial's training step cannot be replayed from CUDA graphs, or ``None``."""
    if torch.device(device).type != "cuda":
        return "not on a CUDA device"
    # A CRF output layer (objectives._crf) needs no reason here: its loss reads the labels'
    # padding mask with fixed shapes and no host reads, as a replay requires.
    reason = padded_steps_unsupported(model)
    if reason is not None:
        return reason
    if schedule.scheduler == "onecycle":
        return "one-cycle also cycles the optimizer's momentum, which a graph would freeze"
    if optimizer.optimizer == "sgd" and (schedule.scheduler != "none" or schedule.warmup_epochs):
        return "SGD's learning rate is fixed inside a graph, and this trial schedules it"
    return None


@dataclass
class _Graph:
    """One captured step and the static tensors it reads."""

    graph: torch.cuda.CUDAGraph
    inputs: tuple[torch.Tensor, ...]
    labels: torch.Tensor

    def load(self, inputs: tuple[torch.Tensor, ...], labels: torch.Tensor) -> None:
        for static, value in zip(self.inputs, inputs, strict=True):
            static.copy_(value, non_blocking=True)
        self.labels.copy_(labels, non_blocking=True)


class CudaGraphSteps(TrainSteps):
    """:class:`TrainSteps` that replays one captured CUDA graph per batch shape.

    Build the optimizer with ``capturable=True`` (see :meth:`OptimizerConfig.build`) and
    check :func:`graphs_unavailable` first.

    Attributes:
        fallback: Why steps run eagerly after a failed capture, or ``None``.
        captured: Graphs captured so far.
    """

    width = staticmethod(graph_width)

    def __init__(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, config: OptimizerConfig
    ) -> None:
        super().__init__(model, optimizer, config)
        self.device = next(model.parameters()).device
        if self.device.type != "cuda":
            raise ObjectiveError(
                f"CUDA graphs need a CUDA device, but the model is on {self.device}"
            )
        self.fallback: str | None = None
        self._graphs: dict[tuple[int, ...], _Graph] = {}
        self._seen: set[tuple[int, ...]] = set()
        # One memory pool for all graphs, replayed in any order: PyTorch documents sharing
        # as safe for graphs replayed in capture order, never concurrently; the order only
        # matters when a graph's output must outlive the next replay. Here none does: what
        # outlives a step (gradients, optimizer state, loss sums, static inputs) is
        # allocated before capture, outside the pool, and graphs never run concurrently.
        # One pool per graph would hold one step's activations per width instead of one.
        self._pool = torch.cuda.graph_pool_handle()
        # Warm-up, eager steps, capture and replays share one side stream, as capture
        # requires (see :meth:`epoch`).
        self._stream = torch.cuda.Stream(self.device)

    @property
    def captured(self) -> int:
        return len(self._graphs)

    @contextmanager
    def epoch(self) -> Iterator[None]:
        # The whole epoch (batch gathers, eager steps, captures, replays) runs on the side
        # stream that capture requires; it starts after what the default stream did (the
        # sums reset, a schedule's new rate) and the default stream waits for it at the end.
        current = torch.cuda.current_stream(self.device)
        with super().epoch():
            self._stream.wait_stream(current)
            try:
                with torch.cuda.stream(self._stream):
                    yield
            finally:
                current.wait_stream(self._stream)

    def step(self, batch: Batch) -> None:
        inputs = self._device_inputs(batch)
        key = tuple(int(n) for t in (*inputs, batch.labels) for n in t.shape)
        graph = self._graphs.get(key)
        if graph is not None:
            graph.load(inputs, batch.labels)
            graph.graph.replay()
            return
        full = int(batch.labels.shape[0]) == self.config.batch_size
        if full and key in self._seen and self.fallback is None:
            graph = self._capture(inputs, batch.labels)
            if graph is not None:
                self._graphs[key] = graph
                graph.graph.replay()
                return
        self._seen.add(key)
        self._eager_step(inputs, batch.labels)

    def _device_inputs(self, batch: Batch) -> tuple[torch.Tensor, ...]:
        # Lengths go to the device with the batch: inside a graph they must be a tensor the
        # replay reads, not a host list baked in at capture.
        inputs = batch.model_inputs()
        return (inputs[0], inputs[1].to(self.device, non_blocking=True), *inputs[2:])

    def _eager_step(self, inputs: tuple[torch.Tensor, ...], labels: torch.Tensor) -> None:
        # Gradients are zeroed in place, never freed: captured graphs write to them.
        self.optimizer.zero_grad(set_to_none=False)
        with padded_steps(self.model):
            self.train_step(inputs, labels)

    def _capture(self, inputs: tuple[torch.Tensor, ...], labels: torch.Tensor) -> _Graph | None:
        static = _Graph(torch.cuda.CUDAGraph(), tuple(t.clone() for t in inputs), labels.clone())
        try:
            with torch.cuda.graph(static.graph, pool=self._pool, stream=self._stream):
                self._eager_step(static.inputs, static.labels)
        except Exception as exc:  # noqa: BLE001 - any capture failure means: run eagerly
            self.fallback = first_line(f"capture failed ({type(exc).__name__}: {exc})")
            _log.warning("CUDA graphs off for this trial: %s", self.fallback)
            return None
        return static
