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
    """An explained result over ``side x side`` patches (2,025 at 45), for scale tests of the report.

    An object of 3 x 3 patches in the middle is the explaining set; about half the patches link to the target, each to its right neighbour, in two heads'
    PAGs. No model or learner runs: the point is to render what a 2,000-token result looks like. It is
    built as a ``whytoken.explanation/1`` document, which every version of the query reads.
    """
    import numpy as np

    from whytoken.graphs import PAG, Mark
    from whytoken.query import Explanation

    rng = np.random.default_rng(seed)
    tokens = [{"position": 0, "kind": "special", "text": "<s>", "token_id": 1, "patch": None, "box": None}]
    for r in range(side):
        for c in range(side):
            tokens.append({"position": len(tokens), "kind": "image_patch", "text": "<image>", "token_id": 5,
                           "patch": [r, c], "box": [c * patch_px, r * patch_px, (c + 1) * patch_px,
                                                    (r + 1) * patch_px]})
    for w in (" what", " color", " is", " the", " big", " cat", " ?", " answer", " :"):
        tokens.append({"position": len(tokens), "kind": "prompt_text", "text": w, "token_id": 10 + len(tokens),
                       "patch": None, "box": None})
    target = len(tokens)
    tokens.append({"position": target, "kind": "generated", "text": " red", "token_id": 99, "patch": None,
                   "box": None})
    pos = {tuple(t["patch"]): t["position"] for t in tokens if t["patch"]}
    mid = side // 2
    explaining = [pos[(mid + dr, mid + dc)] for dr in (-1, 0, 1) for dc in (-1, 0, 1)]

    def as_set(ps, head, after, effect, new):
        members = [{"position": p, "kind": "image_patch", "text": "<image>", "patch": tokens[p]["patch"],
                    "pds_distance": 1, "p_value": float(10 ** -rng.uniform(3, 40)), "p_value_given_rest": None}
                   for p in ps]
        return {"members": members, "size": len(ps), "verified": True, "heads": [head], "best_head": head,
                "pds_distance": 1, "depth_sum": len(ps),
                "outcome": {"changed": True, "top_token_id": 7, "top_token_text": new, "top_prob": 0.6,
                            "target_prob_after": after, "effect": effect}}

    sets = [as_set(explaining, 0, 0.01, 0.99, " blue")]
    heads = []
    for h in range(2):
        g = PAG()
        for t in tokens[1:-1]:
            p = t["position"]
            if rng.random() < 0.5 or p in explaining:
                g.add_edge(p, target, Mark.CIRCLE, Mark.ARROW)
            if t["patch"] and t["patch"][1] + 1 < side:
                g.add_edge(p, p + 1, Mark.CIRCLE, Mark.CIRCLE)
        depth = {str(n): (0 if n == target else 1 if g.has_edge(n, target) else 2) for n in g.nodes}
        heads.append({"head": h, "method": "ordered-icd", "n_ci_tests": 1000, "learn_seconds": 0.5,
                      "pds_depth": depth, "candidates": [{"positions": explaining, "pds_distance": 1,
                                                          "verified": True, "effect": 0.99}],
                      "minimal_size": 9, "pag": g.to_json()})
    row = rng.random(target + 1)
    row[explaining] *= 8
    row /= row.sum()
    doc = {
        "schema": "whytoken.explanation/1", "status": "explained",
        "message": "Removing the 3 x 3 object changes ' red'.",
        "target": {"position": target, "generated_index": 0, "token_id": 99, "text": " red", "prob": 0.9},
        "explaining_set": sets[0], "minimal_sets": sets[:1], "heads": heads,
        "search": {"sizes_tried": [9], "n_candidate_nodes": target - 1, "n_proposed": 50, "n_unique": 40,
                   "n_interventions": 40, "n_model_calls": 2, "exhaustive_interventions": 10 ** 9,
                   "first_verified_at": 12, "truncated": False, "max_set_size": 9, "max_range": 3,
                   "max_candidates": 256},
        "tokens": tokens, "target_node": target,
        "attention": {"row": target - 1, "per_head": {"0": row.tolist(), "1": row[::-1].tolist()}},
        "prompt": "what color is the big cat ?", "generated_text": " red",
        "image_size": [side * patch_px, side * patch_px], "patch_grid": [side, side],
        "timings": {"total": 1.0}, "provenance": {"model": "synthetic", "layer": 0, "alpha": 0.01},
    }
    return Explanation.from_json(doc)
