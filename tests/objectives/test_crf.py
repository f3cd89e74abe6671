"""The CRF layer against brute-force enumeration of every tag sequence, padding included."""

from __future__ import annotations

import itertools

import pytest
import torch

from objectives._crf import LinearChainCRF

N_TAGS, WIDTH = 3, 4


def _score(crf: LinearChainCRF, emissions: torch.Tensor, tags: tuple[int, ...]) -> torch.Tensor:
    """The score of one tag sequence, written out term by term."""
    total = crf.start[tags[0]] + crf.end[tags[-1]]
    for t, tag in enumerate(tags):
        total = total + emissions[t, tag]
        if t > 0:
            total = total + crf.transitions[tags[t - 1], tag]
    return total


@pytest.fixture
def case() -> tuple[LinearChainCRF, torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    crf = LinearChainCRF(N_TAGS)
    with torch.no_grad():  # scores far from the small initial ones, so ties are unlikely
        for parameter in crf.parameters():
            parameter.normal_()
    emissions = torch.randn(3, WIDTH, N_TAGS) * 2
    lengths = torch.tensor([4, 2, 1])  # a full row, a padded one, a single token
    mask = torch.arange(WIDTH)[None, :] < lengths[:, None]
    tags = torch.randint(0, N_TAGS, (3, WIDTH)).masked_fill(~mask, -100)
    return crf, emissions, mask, tags


def test_likelihood_viterbi_and_max_marginals_match_enumeration(case):
    crf, emissions, mask, tags = case
    likelihood = crf.log_likelihood(emissions, tags, mask)
    path = crf.viterbi(emissions, mask)
    marginals = crf.max_marginals(emissions, mask)
    for row, length in enumerate(mask.sum(1).tolist()):
        every = list(itertools.product(range(N_TAGS), repeat=length))
        scores = torch.stack([_score(crf, emissions[row], seq) for seq in every])
        gold = tuple(tags[row, :length].tolist())
        expected = _score(crf, emissions[row], gold) - torch.logsumexp(scores, 0)
        torch.testing.assert_close(likelihood[row], expected)
        best = every[int(scores.argmax())]
        assert tuple(path[row, :length].tolist()) == best
        assert path[row, length:].eq(0).all()  # padding gets tag 0, never a guess
        for t in range(length):
            for k in range(N_TAGS):
                through = scores[[i for i, seq in enumerate(every) if seq[t] == k]].max()
                torch.testing.assert_close(marginals[row, t, k], through)
        assert tuple(marginals[row, :length].argmax(-1).tolist()) == best


def test_padding_positions_change_nothing(case):
    crf, emissions, mask, tags = case
    noisy = emissions.clone()
    noisy[~mask] = torch.randn(int((~mask).sum()), N_TAGS) * 100
    other_tags = tags.masked_fill(~mask, 2)
    torch.testing.assert_close(
        crf.log_likelihood(noisy, other_tags, mask), crf.log_likelihood(emissions, tags, mask)
    )
    assert torch.equal(crf.viterbi(noisy, mask), crf.viterbi(emissions, mask))
    present = mask.unsqueeze(-1).expand_as(emissions)
    assert torch.equal(
        crf.max_marginals(noisy, mask)[present], crf.max_marginals(emissions, mask)[present]
    )


def test_an_empty_row_scores_zero_and_gradients_flow(case):
    crf, emissions, mask, tags = case
    mask[2] = False
    likelihood = crf.log_likelihood(emissions.requires_grad_(), tags, mask)
    assert likelihood[2] == 0
    (-likelihood.sum()).backward()
    assert crf.transitions.grad is not None and crf.transitions.grad.abs().sum() > 0
    assert (likelihood[:2] < 0).all()  # a log-probability of one of several sequences
