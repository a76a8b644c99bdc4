"""Token-budget batching: group prompts so that no forward pass exceeds a padded size."""

from __future__ import annotations

from collections.abc import Sequence


def plan_batches(
    lengths: Sequence[int], max_tokens: int, max_items: int, packed: bool = False
) -> list[list[int]]:
    """Indices of `lengths` grouped into batches whose padded size (longest x count) stays
    within `max_tokens` and count within `max_items`; with `packed`, the budget counts real
    tokens (the sum of lengths: packed batches carry no padding).

    Longest first, so similar lengths share a batch and padding stays small; an item longer
    than the budget gets a batch of its own (it cannot be split). Every index appears once.
    """
    if max_tokens < 1 or max_items < 1:
        raise ValueError("max_tokens and max_items must be positive")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    total = 0
    for index in order:
        # Sorted longest first, so the batch's longest is its first item.
        candidate_longest = longest if current else lengths[index]
        if packed:
            fits = total + lengths[index] <= max_tokens
        else:
            fits = (len(current) + 1) * candidate_longest <= max_tokens
        if current and (not fits or len(current) == max_items):
            batches.append(current)
            current = []
            total = 0
        if not current:
            longest = lengths[index]
        current.append(index)
        total += lengths[index]
    if current:
        batches.append(current)
    return batches
