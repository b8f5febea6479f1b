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


def synthetic_explanation(side: int = 45, patch_px: int = 14, seed: int = 0) -> Any:
    """An explained result over ``side x side`` patches (2,025 at 45), built directly, for scale tests.

    An object of 3 x 3 patches in the middle is the explaining set, a second 2 x 2 object a verified
    alternative; every patch links to the target and to its right neighbour in two heads' PAGs.
    No model or learner runs: the point is to render what a 2,000-token result looks like.
    """
    import numpy as np

    from whytoken.graphs import PAG, Mark
    from whytoken.query.explanation import (
        CandidateRecord,
        Explanation,
        ExplainingSet,
        HeadResult,
        InterventionOutcome,
        Member,
        SearchSummary,
        TargetToken,
        TokenInfo,
    )

    rng = np.random.default_rng(seed)
    tokens = [TokenInfo(0, "special", "<s>", 1)]
    for r in range(side):
        for c in range(side):
            tokens.append(TokenInfo(len(tokens), "image_patch", "<image>", 5, (r, c),
                                    (c * patch_px, r * patch_px, (c + 1) * patch_px, (r + 1) * patch_px)))
    words = [" what", " color", " is", " the", " big", " cat", " ?", " answer", " :"]
    for w in words:
        tokens.append(TokenInfo(len(tokens), "prompt_text", w, 10 + len(tokens)))
    target = len(tokens)
    tokens.append(TokenInfo(target, "generated", " red", 99))
    pos = {(t.patch[0], t.patch[1]): t.position for t in tokens if t.patch}
    mid = side // 2
    explaining = [pos[(mid + dr, mid + dc)] for dr in (-1, 0, 1) for dc in (-1, 0, 1)]
    other = [pos[(3 + dr, 4 + dc)] for dr in (0, 1) for dc in (0, 1)]

    def members(ps):
        return tuple(Member(p, "image_patch", "<image>", tokens[p].patch, 1, float(10 ** -rng.uniform(3, 40)))
                     for p in ps)

    outcome = InterventionOutcome(True, 7, " blue", 0.6, 0.01, 0.99)
    sets = (ExplainingSet(members(explaining), True, (0, 1), 0, 1, 9, outcome),
            ExplainingSet(members(other), True, (1,), 1, 1, 4, InterventionOutcome(True, 8, " green", 0.4, 0.2, 0.75)))
    heads = []
    for h in range(2):
        g = PAG()
        for t in tokens[:-1]:
            if t.position == 0:
                continue
            if rng.random() < 0.5 or t.position in explaining:
                g.add_edge(t.position, target, Mark.CIRCLE, Mark.ARROW)
            if t.patch and t.patch[1] + 1 < side:
                g.add_edge(t.position, t.position + 1, Mark.CIRCLE, Mark.CIRCLE)
        depth = {target: 0, **{n: (1 if g.has_edge(n, target) else 2) for n in g.nodes if n != target}}
        heads.append(HeadResult(h, g, 1000, 0.5, depth, (CandidateRecord(tuple(explaining), 1, True, 0.99),),
                                9, "ordered-icd"))
    row = rng.random(target + 1)
    row[explaining] *= 8
    row /= row.sum()
    search = SearchSummary((9,), target - 1, 50, 40, 40, 2, 10 ** 9, 12, False, 9, 3, 256)
    return Explanation("explained", "Removing the 3 x 3 object changes ' red'.", TargetToken(target, 0, 99, " red", 0.9),
                       sets[0], sets, tuple(heads), search, tuple(tokens),
                       attention={0: tuple(float(x) for x in row), 1: tuple(float(x) for x in row[::-1])},
                       attention_row=target - 1, target_node=target, prompt="what color is the big cat ?",
                       generated_text=" red", image_size=(side * patch_px, side * patch_px), patch_grid=(side, side),
                       timings={"total": 1.0}, provenance={"model": "synthetic", "layer": 0, "alpha": 0.01})
