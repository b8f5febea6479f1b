"""Model inputs of the demo model: world samples batched through its processor, and where their tokens sit.

:func:`encode` turns samples (optionally with edited images) into the
right-padded tensors the model reads, with the index of each row's last
prompt token; :func:`image_token_positions` and :func:`cause_token_positions`
locate the image tokens and a sample's ground-truth cause in input_ids.

Examples
--------
>>> from whytoken.experiments.training.demo_model import build_processor
>>> from whytoken.experiments.worlds.demo import generate
>>> image_token_positions([1, 4, 4, 6], image_token_id=4), "last" in encode(build_processor(), generate("test", 1))
([1, 2], True)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch
from transformers import LlavaProcessor, PreTrainedTokenizerFast

from whytoken.errors import InvalidParameterError
from whytoken.experiments.worlds.demo import IMAGE_PLACEHOLDER, Sample

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["encode", "image_token_positions", "cause_token_positions"]


def encode(
    processor: LlavaProcessor,
    samples: Sequence[Sample],
    images: Sequence[Image.Image] | None = None,
    with_answers: bool = False,
) -> dict[str, torch.Tensor]:
    """Batch samples into model inputs, right-padded.

    Parameters
    ----------
    processor : LlavaProcessor
    samples : sequence of Sample
    images : sequence of PIL.Image.Image, optional
        Images to use instead of ``sample.image`` (e.g. after an intervention).
    with_answers : bool, default False
        Append ``answer </s>`` to each prompt (training inputs).

    Returns
    -------
    dict
        ``input_ids`` and ``attention_mask`` ``(batch, seq)``, ``pixel_values``
        ``(batch, 3, H, W)``, and ``last`` ``(batch,)``: the index of each row's
        last prompt token (``":"``), whose next-token logits are the answer.

    Examples
    --------
    >>> from whytoken.experiments.training.demo_model import build_processor
    >>> from whytoken.experiments.worlds.demo import generate
    >>> batch = encode(build_processor(), generate("test", 3))
    >>> batch["input_ids"].shape[0], batch["last"].tolist()[0] == batch["attention_mask"][0].sum().item() - 1
    (3, True)
    """
    if not samples:
        raise InvalidParameterError("samples is empty; expected at least one Sample to encode")
    images = list(images) if images is not None else [s.image for s in samples]
    if len(images) != len(samples):
        raise InvalidParameterError(f"got {len(images)} images for {len(samples)} samples; expected one per sample")
    texts = [f"{s.prompt} {s.answer} </s>" if with_answers else s.prompt for s in samples]
    batch = processor(images=images, text=texts, padding=True, padding_side="right", return_tensors="pt")
    lengths = batch["attention_mask"].sum(dim=1)
    last = lengths - (3 if with_answers else 1)
    return {
        "input_ids": batch["input_ids"],
        "attention_mask": batch["attention_mask"],
        "pixel_values": batch["pixel_values"],
        "last": last,
    }


def image_token_positions(input_ids: torch.Tensor | Sequence[int], image_token_id: int = 4) -> list[int]:
    """Sequence positions of the image tokens, in patch (row-major) order.

    Examples
    --------
    >>> image_token_positions([1, 4, 4, 4, 4, 5])
    [1, 2, 3, 4]
    """
    ids = torch.as_tensor(input_ids).reshape(-1).tolist()
    return [i for i, t in enumerate(ids) if t == image_token_id]


def cause_token_positions(
    sample: Sample, input_ids: torch.Tensor | Sequence[int], tokenizer: PreTrainedTokenizerFast
) -> dict[str, list[int]]:
    """Map a sample's ground-truth cause to positions in its (unpadded) ``input_ids``.

    Parameters
    ----------
    sample : Sample
    input_ids : tensor or sequence of int
        One row as produced by the demo processor for ``sample.prompt``.
    tokenizer : PreTrainedTokenizerFast
        The demo tokenizer (word level: one token per word).

    Returns
    -------
    dict
        ``"patches"``: positions of the cause image tokens (in ``cause_patch_indices``
        order); ``"words"``: positions of the cause words (in ``cause_words`` order).

    Examples
    --------
    >>> from whytoken.experiments.training.demo_model import build_processor
    >>> from whytoken.experiments.worlds.demo import generate
    >>> processor = build_processor()
    >>> s = generate("test", 1)[0]
    >>> ids = processor(images=s.image, text=s.prompt)["input_ids"][0]
    >>> pos = cause_token_positions(s, ids, processor.tokenizer)
    >>> processor.tokenizer.convert_ids_to_tokens([ids[p] for p in pos["words"]]) == list(s.cause_word_strings)
    True
    """
    ids = torch.as_tensor(input_ids).reshape(-1).tolist()
    image_id = tokenizer.convert_tokens_to_ids(IMAGE_PLACEHOLDER)
    image_positions = image_token_positions(ids, image_id)
    if len(image_positions) != sample.config.num_patches:
        raise InvalidParameterError(
            f"input_ids hold {len(image_positions)} image tokens; expected {sample.config.num_patches} "
            f"({sample.config.patch_grid}x{sample.config.patch_grid} patches) for this sample's world"
        )
    # one token per word after <s>; the placeholder word stands for num_patches tokens
    offsets, position = [], 1
    for word in sample.words:
        offsets.append(position)
        position += sample.config.num_patches if word == IMAGE_PLACEHOLDER else 1
    word_positions = [offsets[i] for i in sample.cause_words]
    words = sample.words
    tokens = tokenizer.convert_ids_to_tokens([ids[p] if p < len(ids) else 0 for p in word_positions])
    expected = [words[i] for i in sample.cause_words]
    if tokens != expected:
        raise InvalidParameterError(
            f"tokens {tokens} at the cause positions do not match the cause words {expected}; expected input_ids "
            f"of the prompt {sample.prompt!r} encoded by the demo processor"
        )
    return {"patches": [image_positions[i] for i in sample.cause_patch_indices], "words": word_positions}
