"""Learning-rate schedules: each moves the rate as its settings say."""

from __future__ import annotations

import pytest
import torch

from objectives import ObjectiveError, ScheduleConfig
from objectives._schedules import LRSchedule


def rates(config: ScheduleConfig, epochs: int = 6, steps: int = 4, metric=None) -> list[float]:
    """The learning rate at the start of each epoch."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    schedule = LRSchedule(optimizer, config, epochs=epochs, steps_per_epoch=steps)
    seen = []
    for epoch in range(epochs):
        seen.append(optimizer.param_groups[0]["lr"])
        for _ in range(steps):
            optimizer.step()
            schedule.after_batch()
        schedule.after_epoch(metric[epoch] if metric else 0.5)
    return seen


def test_each_schedule_follows_its_settings():
    assert rates(ScheduleConfig()) == [1.0] * 6
    assert rates(ScheduleConfig("step", step_size=2, gamma=0.5)) == [1, 1, 0.5, 0.5, 0.25, 0.25]
    assert rates(ScheduleConfig("multistep", milestones="2,4", gamma=0.1)) == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01, 0.01]
    )
    cosine = rates(ScheduleConfig("cosine"))
    assert cosine[0] == 1.0 and all(a > b for a, b in zip(cosine, cosine[1:], strict=False))
    one_cycle = rates(ScheduleConfig("onecycle", pct_start=0.5))
    assert one_cycle[0] < 0.1 and max(one_cycle) > 0.9 and one_cycle[-1] < max(one_cycle)
    # Plateau: no improvement for patience + 1 epochs halves the rate.
    flat = rates(ScheduleConfig("plateau", patience=1, gamma=0.5), metric=[0.5] * 6)
    assert flat[:3] == [1, 1, 1] and flat[3] == 0.5


def test_warmup_ramps_up_then_hands_over():
    assert rates(ScheduleConfig(warmup_epochs=3)) == pytest.approx([0.25, 0.5, 0.75, 1, 1, 1])
    step = rates(ScheduleConfig("step", step_size=1, gamma=0.5, warmup_epochs=1))
    assert step == pytest.approx([0.5, 1, 0.5, 0.25, 0.125, 0.0625])
    # Multistep milestones count from the start of training, warm-up included.
    multistep = rates(ScheduleConfig("multistep", milestones="3", gamma=0.1, warmup_epochs=1))
    assert multistep == pytest.approx([0.5, 1, 1, 0.1, 0.1, 0.1])


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"scheduler": "linear"}, "scheduler 'linear' is not accepted; accepted: none, cosine"),
        ({"scheduler": "multistep", "milestones": "25,15"}, "milestones must be increasing"),
        ({"gamma": 1.5}, "gamma must be in \\(0, 1\\]"),
    ],
)
def test_bad_settings_name_the_value(settings, message):
    with pytest.raises(ObjectiveError, match=message):
        ScheduleConfig(**settings)
