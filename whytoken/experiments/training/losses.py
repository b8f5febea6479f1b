"""Auxiliary losses of the demo recipe: the cell probe, the cause probe and the attention term, with their targets.

The probes are linear heads trained with the model and discarded with it
(the saved model is a plain LLaVA): the *cell probe* reads, on every image
token, its own cell's and (optionally) its neighbours' shape and colour
(:func:`_cell_targets`, :func:`_aux_loss`); the *cause probe* reads whether a
patch is one of the question's cause patches or the cell the answer is read
from (:func:`_patch_targets`, :func:`_answer_cells`); :func:`_attention_loss`
rewards attention from the answer position on the cause patches. See
:mod:`whytoken.experiments.training.train` for why each exists.

Examples
--------
>>> _probe_sizes(False), len(_probe_sizes(True))
([5, 5, 17], 7)
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from whytoken.experiments.worlds.demo import COLORS, RELATIONS, SHAPES, Sample, WorldConfig

__all__: list[str] = []


_N_SHAPES, _N_COLORS, _N_COMBOS = 1 + len(SHAPES), 1 + len(COLORS), 1 + len(SHAPES) * len(COLORS)


def _probe_sizes(neighbours: bool) -> list[int]:
    """Probe heads: own shape, colour, colour-and-shape; then, optionally, the colour-and-shape in each
    RELATIONS direction."""
    return [_N_SHAPES, _N_COLORS, _N_COMBOS] + ([_N_COMBOS] * len(RELATIONS) if neighbours else [])


def _cell_targets(samples: Sequence[Sample], world: WorldConfig, neighbours: bool) -> torch.Tensor:
    """Probe targets per image token, ``(batch, patches, heads)`` (0 = empty or outside the grid)."""
    targets = torch.zeros((len(samples), world.num_patches, len(_probe_sizes(neighbours))), dtype=torch.long)
    color_ids = {c: i for i, c in enumerate(COLORS)}
    shape_ids = {s: i for i, s in enumerate(SHAPES)}
    k = world.patches_per_cell
    for b, sample in enumerate(samples):
        cells = {o.cell: o for o in sample.scene.objects}
        for r in range(world.patch_grid):
            for c in range(world.patch_grid):
                row, col = r // k, c // k
                obj = cells.get((row, col))
                values = [0, 0, 0]
                if obj is not None:
                    s_id, c_id = shape_ids[obj.shape], color_ids[obj.color]
                    values = [1 + s_id, 1 + c_id, 1 + s_id * len(COLORS) + c_id]
                for dr, dc in RELATIONS.values() if neighbours else ():
                    other = cells.get((row + dr, col + dc))
                    values.append(
                        0 if other is None else 1 + shape_ids[other.shape] * len(COLORS) + color_ids[other.color]
                    )
                targets[b, r * world.patch_grid + c] = torch.tensor(values)
    return targets


def _patch_targets(
    groups: Sequence[Sequence[Sample]], world: WorldConfig, cells: Callable[[Sample], Sequence[int]]
) -> torch.Tensor:
    """Per row and image token: 1 if the patch is one of ``cells(question)``, ``(rows, patches)``.

    ``cells`` is ``lambda q: q.cause_patch_indices`` for the cause probe and
    :func:`_answer_cells` for the answer probe.
    """
    rows = [q for group in groups for q in group]
    targets = torch.zeros((len(rows), world.num_patches), dtype=torch.float32)
    for i, q in enumerate(rows):
        targets[i, list(cells(q))] = 1.0
    return targets


def _answer_cells(sample: Sample) -> tuple[int, ...]:
    """Patch indices of the cells an answer is read from: the cause patches, except for ``relation``, where
    only the neighbour cell (empty for a ``none`` answer) is, not the anchor."""
    if sample.kind != "relation":
        return tuple(sample.cause_patch_indices)
    relation, color, shape = (sample.words[i] for i in sample.cause_words)
    (anchor,) = sample.scene.find(shape=shape, color=color)
    dr, dc = RELATIONS[relation]
    return ((anchor.row + dr) * sample.config.patch_grid + anchor.col + dc,)


def _attention_loss(
    attention: torch.Tensor, batch: dict[str, torch.Tensor], groups: Sequence[Sequence[Sample]], image_token_id: int
) -> torch.Tensor:
    """``-log`` of the attention mass that head 0 of the last layer puts on the cause patches, from the answer
    position, averaged over the rows whose answer has cause patches."""
    rows = [q for group in groups for q in group]
    is_image = batch["input_ids"] == image_token_id
    picked_rows, picked_cols = [], []
    for i, q in enumerate(rows):
        positions = torch.nonzero(is_image[i]).squeeze(-1)
        for p in q.cause_patch_indices:
            picked_rows.append(i)
            picked_cols.append(int(positions[p]))
    if not picked_rows:
        return attention.new_zeros(())
    weights = attention[:, 0][torch.arange(len(rows)), batch["answer_positions"]]  # (rows, seq)
    mask = torch.zeros_like(weights)
    mask[picked_rows, picked_cols] = 1.0
    mass = (weights * mask).sum(-1)
    has = mask.sum(-1) > 0
    return -torch.log(mass[has].clamp_min(1e-6)).mean()


def _aux_loss(logits: torch.Tensor, targets: torch.Tensor, neighbours: bool) -> torch.Tensor:
    """Sum of the probe's cross-entropies, one per head of :func:`_probe_sizes`."""
    loss = logits.new_zeros(())
    for i, head in enumerate(torch.split(logits, _probe_sizes(neighbours), dim=-1)):
        loss = loss + torch.nn.functional.cross_entropy(head.reshape(-1, head.shape[-1]), targets[..., i].reshape(-1))
    return loss
