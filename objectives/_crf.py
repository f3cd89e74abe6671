"""A linear-chain CRF output layer for the tagger: likelihood, Viterbi and max-marginals.

Written here (about a hundred lines of torch) rather than taken from ``pytorch-crf``:
that package (last released in 2019) would be a dependency for a textbook algorithm,
its decoder returns Python lists (a host read per batch), and it has no max-marginals,
which let the tag metrics read a CRF's decisions unchanged. Every method here is batched
over a padding mask, with no host reads and fixed shapes for a given batch width, so a
training step with a CRF stays eligible for CUDA-graph capture (:mod:`objectives._graphs`;
a capture that fails still falls back to eager steps).

Shapes: ``B`` sentences, ``T`` steps, ``K`` tags. A mask is ``[B, T]`` bool, true on a
prefix of each row (a sentence's tokens); rows with no tokens score zero.
"""

from __future__ import annotations

import torch
from torch import nn


class LinearChainCRF(nn.Module):
    """Tag transition scores (plus start and end scores) on top of per-step emissions.

    A tag sequence ``y`` of a sentence scores ``start[y0] + sum_t emission[t, y_t] +
    sum_t transitions[y_{t-1}, y_t] + end[y_last]``; its probability is that score's
    softmax over every tag sequence of the sentence's length.
    """

    def __init__(self, n_tags: int) -> None:
        super().__init__()
        self.n_tags = n_tags
        # Small random scores, as pytorch-crf starts: zeros would tie every path at first.
        self.start = nn.Parameter(torch.empty(n_tags).uniform_(-0.1, 0.1))
        self.end = nn.Parameter(torch.empty(n_tags).uniform_(-0.1, 0.1))
        self.transitions = nn.Parameter(torch.empty(n_tags, n_tags).uniform_(-0.1, 0.1))

    def log_likelihood(
        self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """``[B]`` log-probability of each row's gold ``tags`` (values at padding ignored)."""
        return self.path_score(emissions, tags, mask) - self.log_partition(emissions, mask)

    def path_score(
        self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """``[B]`` unnormalized score of each row's ``tags`` over its masked steps."""
        tags = torch.where(mask, tags, torch.zeros_like(tags))  # padding may hold -100
        weights = mask.to(emissions.dtype)
        emitted = emissions.gather(2, tags.unsqueeze(-1)).squeeze(-1)  # [B, T]
        moved = self.transitions[tags[:, :-1], tags[:, 1:]]  # [B, T-1]
        last = tags.gather(1, (mask.sum(1) - 1).clamp(min=0).unsqueeze(1)).squeeze(1)  # [B]
        score = self.start[tags[:, 0]] + self.end[last]
        score = score + (emitted * weights).sum(1) + (moved * weights[:, 1:]).sum(1)
        return score * weights[:, 0]

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``[B]`` log of the summed exponentiated scores of all tag sequences (forward)."""
        alpha = self.start + emissions[:, 0]  # [B, K]
        for t in range(1, emissions.shape[1]):
            # [B, K_from, 1] + [K_from, K_to] + [B, 1, K_to], summed out over K_from
            step = torch.logsumexp(
                alpha.unsqueeze(2) + self.transitions + emissions[:, t].unsqueeze(1), dim=1
            )
            alpha = torch.where(mask[:, t].unsqueeze(1), step, alpha)
        return torch.logsumexp(alpha + self.end, dim=1) * mask[:, 0].to(emissions.dtype)

    def _viterbi_forward(
        self, emissions: torch.Tensor, mask: torch.Tensor
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        # alphas[t]: [B, K] best score of a prefix ending in each tag at t (emission
        # included); pointers[t - 1]: [B, K] the best previous tag for each tag at t.
        alphas = [self.start + emissions[:, 0]]
        pointers: list[torch.Tensor] = []
        for t in range(1, emissions.shape[1]):
            best, pointer = (alphas[-1].unsqueeze(2) + self.transitions).max(1)
            step = best + emissions[:, t]
            alphas.append(torch.where(mask[:, t].unsqueeze(1), step, alphas[-1]))
            pointers.append(pointer)
        return alphas, pointers

    def viterbi(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``[B, T]`` the highest-scoring tag sequence of each row (0 at padding)."""
        alphas, pointers = self._viterbi_forward(emissions, mask)
        current = (alphas[-1] + self.end).argmax(1)  # [B] each row's last tag
        path = torch.zeros(mask.shape, dtype=torch.long, device=emissions.device)
        for t in range(emissions.shape[1] - 1, 0, -1):
            inside = mask[:, t]
            path[:, t] = torch.where(inside, current, torch.zeros_like(current))
            previous = pointers[t - 1].gather(1, current.unsqueeze(1)).squeeze(1)
            current = torch.where(inside, previous, current)
        path[:, 0] = current
        return path

    def max_marginals(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``[B, T, K]``: the score of the best whole sequence that puts tag k at step t.

        Its argmax over tags is the Viterbi path (barring exact ties), and its ranking is
        a CRF's own top-k, so metrics that read per-step scores need no change for a CRF.
        """
        alphas, _ = self._viterbi_forward(emissions, mask)
        end = self.end.expand_as(alphas[0])
        beta = end  # [B, K] best score of the rest of the sentence after each tag at t
        betas = [beta]
        for t in range(emissions.shape[1] - 2, -1, -1):
            ahead = emissions[:, t + 1] + beta  # [B, K_to]
            step = (self.transitions + ahead.unsqueeze(1)).max(2).values  # [B, K_from]
            beta = torch.where(mask[:, t + 1].unsqueeze(1), step, end)
            betas.append(beta)
        return torch.stack(alphas, 1) + torch.stack(betas[::-1], 1)
