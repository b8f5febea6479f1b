"""Models and results shared by the report and viewer browser tests."""

from __future__ import annotations

from typing import Any

#: LLaVA-1.5's geometry: 336 px images, 14 px patches -> 24 x 24 = 576 image tokens.
IMAGE_SIDE, PATCH = 336, 14


def llava576_adapter(seed: int = 0) -> Any:
    """A random tiny LLaVA (whytoken.adapters.toy) at LLaVA-1.5's patch grid, with room for ~600 positions."""
    from whytoken.adapters import load_model
    from whytoken.adapters.toy import tiny_llava

    model, processor = tiny_llava(seed=seed, image_side=IMAGE_SIDE, patch=PATCH)
    model.config.text_config.max_position_embeddings = 1024  # the toy default (256) is below 576 patches
    return load_model(model, processor, name=f"toy-llava-576-seed{seed}")


def llava576_image(seed: int = 1) -> Any:
    from whytoken.adapters.toy import toy_image

    return toy_image(IMAGE_SIDE, IMAGE_SIDE, seed=seed)
