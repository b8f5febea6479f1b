"""The committed demo checkpoint: plain-transformers loading, processor geometry, accuracy, interventions.

Nothing here trains the model; the checkpoint in ``whytoken/data/whytoken-demo``
is the one ``python -m whytoken.experiments.train`` wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from whytoken.errors import CheckpointError, ConfigError, InvalidParameterError
from whytoken.experiments.training.batches import build_batch, hidden_states, pick_questions
from whytoken.experiments.training.config import TrainConfig
from whytoken.experiments.training.demo_model import (
    DEFAULT_CHECKPOINT_DIR,
    METADATA_FILE,
    DemoArchitecture,
    build_model,
    build_processor,
    load_demo,
    read_metadata,
    world_config_of,
)
from whytoken.experiments.training.encoding import cause_token_positions, encode, image_token_positions
from whytoken.experiments.training.evaluate import accuracy_by_kind, intervention_check, predict_answers
from whytoken.experiments.worlds.demo import KINDS, WorldConfig, generate

WORLD = WorldConfig()


@pytest.fixture(scope="module")
def demo():
    return load_demo()


def test_checkpoint_files_are_package_data_and_small():
    names = {p.name for p in DEFAULT_CHECKPOINT_DIR.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "processor_config.json", METADATA_FILE} <= names
    total = sum(p.stat().st_size for p in DEFAULT_CHECKPOINT_DIR.iterdir())
    assert total < 8 * 2**20
    # every file is covered by the package-data globs in pyproject.toml
    assert all(p.suffix in {".json", ".safetensors", ".txt", ".jinja"} for p in DEFAULT_CHECKPOINT_DIR.iterdir())


def test_checkpoint_loads_through_plain_transformers_in_a_fresh_process():
    code = textwrap.dedent(
        f"""
        import json, torch
        from transformers import AutoProcessor, LlavaForConditionalGeneration
        from whytoken.experiments.worlds.demo import generate
        d = {str(DEFAULT_CHECKPOINT_DIR)!r}
        torch.set_num_threads(1)
        processor = AutoProcessor.from_pretrained(d)
        model = LlavaForConditionalGeneration.from_pretrained(d, attn_implementation="eager").eval()
        s = generate("test", 1, seed=3)[0]
        inputs = processor(images=s.image, text=s.prompt, return_tensors="pt")
        out = model.generate(**inputs, max_new_tokens=3, do_sample=False)
        new = processor.tokenizer.convert_ids_to_tokens(out[0, inputs["input_ids"].shape[1]:].tolist())
        attn = model(**inputs, output_attentions=True).attentions
        print(json.dumps({{"class": type(processor).__name__, "new": new, "answer": s.answer,
                          "n_attn": len(attn), "attn_shape": list(attn[0].shape)}}))
        """
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["class"] == "LlavaProcessor"
    assert result["new"][0] == result["answer"] and result["new"][1] == "</s>"
    assert result["n_attn"] == DemoArchitecture.from_dict(read_metadata()["architecture"]).text_layers
    assert result["attn_shape"][-1] == result["attn_shape"][-2] == 1 + WORLD.num_patches + len(
        generate("test", 1, seed=3)[0].words) - 1  # <s> + patches + the other words


def test_image_tokens_match_the_patch_grid(demo):
    model, processor = demo
    sample = generate("test", 1)[0]
    ids = processor(images=sample.image, text=sample.prompt, return_tensors="pt")["input_ids"][0]
    positions = image_token_positions(ids, model.config.image_token_id)
    assert len(positions) == (WORLD.image_size // WORLD.patch_size) ** 2 == model.config.image_seq_length
    first = 1 + len(sample.question.split())  # <s>, the question, then the image
    assert positions == list(range(first, first + WORLD.num_patches))  # contiguous, row-major
    vision = model.config.vision_config
    assert (vision.image_size, vision.patch_size) == (WORLD.image_size, WORLD.patch_size)
    assert model.config.vision_feature_select_strategy == "default" and model.config.vision_feature_layer == -1


def test_cause_patches_contain_the_shape_in_processed_pixel_values(demo):
    _, processor = demo
    p = WORLD.patch_size
    for sample in generate("test", 24):
        pv = processor(images=sample.image, text=sample.prompt, return_tensors="pt")["pixel_values"][0].numpy()
        assert pv.shape == (3, WORLD.image_size, WORLD.image_size)
        background = np.asarray(WORLD.background)[:, None, None] / 127.5 - 1
        for obj in sample.scene.objects:
            colour = np.asarray(obj.rgb)[:, None, None] / 127.5 - 1
            for r, c in WORLD.cell_patches(obj.row, obj.col):
                block = pv[:, r * p : (r + 1) * p, c * p : (c + 1) * p]
                assert (np.abs(block - colour).max(axis=0) < 1e-5).sum() >= 30
        object_patches = {q for o in sample.scene.objects for q in WORLD.cell_patches(o.row, o.col)}
        assert set(sample.cause_patches) <= object_patches | {
            q for q in sample.cause_patches if sample.kind == "relation" and sample.absent}
        for r in range(WORLD.patch_grid):
            for c in range(WORLD.patch_grid):
                if (r, c) not in object_patches:
                    block = pv[:, r * p : (r + 1) * p, c * p : (c + 1) * p]
                    assert np.abs(block - background).max() <= WORLD.background_noise / 127.5 + 1e-6


def test_training_batches_equal_processor_batches(demo):
    _, processor = demo
    rng = np.random.default_rng(0)
    samples = generate("train", 4, seed=40)
    groups = [pick_questions(s, 3, rng) for s in samples]
    assert all(len(g) == 3 and len({q.question for q in g}) == 3 and g[0] is s for g, s in zip(groups, samples))
    batch = build_batch(groups, [s.pixels for s in samples], processor.tokenizer.get_vocab(), WORLD)
    flat = [q for g in groups for q in g]
    slow = encode(processor, flat, with_answers=True)
    assert torch.equal(batch["input_ids"], slow["input_ids"])
    assert torch.equal(batch["attention_mask"], slow["attention_mask"])
    assert torch.equal(batch["answer_positions"], slow["last"])
    assert torch.allclose(batch["pixel_values"][batch["image_index"]], slow["pixel_values"], atol=1e-6)
    tokens = processor.tokenizer.convert_ids_to_tokens(batch["input_ids"][0, batch["answer_positions"][0]:].tolist())
    assert tokens[:3] == [":", samples[0].answer, "</s>"]


def test_shared_vision_forward_equals_the_plain_forward(demo):
    model, processor = demo
    samples = generate("train", 2, seed=80)
    groups = [pick_questions(s, 3, np.random.default_rng(1)) for s in samples]
    batch = build_batch(groups, [s.pixels for s in samples], processor.tokenizer.get_vocab(), WORLD)
    with torch.no_grad():
        shared = hidden_states(model, batch)
        plain = model.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                            pixel_values=batch["pixel_values"][batch["image_index"]]).last_hidden_state
    assert torch.allclose(shared, plain, atol=1e-5)


def test_chat_template_renders_the_prompt(demo):
    _, processor = demo
    sample = generate("test", 1)[0]
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": sample.question}]}]
    assert processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) == sample.prompt


def test_cause_token_positions_point_at_cause_tokens(demo):
    model, processor = demo
    for sample in generate("test", 8):
        ids = processor(images=sample.image, text=sample.prompt)["input_ids"][0]
        pos = cause_token_positions(sample, ids, processor.tokenizer)
        first = 1 + len(sample.question.split())
        assert pos["patches"] == [first + i for i in sample.cause_patch_indices]
        assert [processor.tokenizer.convert_ids_to_tokens(ids[q]) for q in pos["words"]] == list(
            sample.cause_word_strings)
    with pytest.raises(InvalidParameterError, match="image tokens"):
        cause_token_positions(sample, ids[:20], processor.tokenizer)


def test_metadata_describes_the_checkpoint():
    meta = read_metadata()
    assert world_config_of() == WORLD
    assert meta["train_command"].startswith("python -m whytoken.experiments.train")
    per_kind = meta["accuracy"]["per_kind"]
    assert all(per_kind[k]["accuracy"] >= 0.98 for k in KINDS)


def test_held_out_accuracy_per_kind(demo):
    model, processor = demo
    samples = generate("test", 160, seed=10_000)  # 40 per kind, away from the offsets the report uses
    report = accuracy_by_kind(model, processor, samples)
    for kind in KINDS:
        assert report[kind]["n"] == 40
        assert report[kind]["accuracy"] >= 0.95, (kind, report[kind])


def test_generate_answers_one_word_then_eos(demo):
    model, processor = demo
    sample = generate("test", 1, seed=7)[0]
    inputs = processor(images=sample.image, text=sample.prompt, return_tensors="pt")
    out = model.generate(**inputs, do_sample=False)
    new = processor.tokenizer.convert_ids_to_tokens(out[0, inputs["input_ids"].shape[1]:].tolist())
    assert new == [sample.answer, "</s>"]


def test_blanking_causes_changes_answers_but_blanking_background_rarely_does(demo):
    model, processor = demo
    report = intervention_check(model, processor, generate("test", 60, seed=20_000), seed=1)
    assert report.n_eligible >= 40
    # measured on 200 test samples: see benchmarks/RESULTS.md, "Demo model"
    assert report.cause_change_rate >= 0.85
    assert report.empty_change_rate <= 0.10
    assert report.distractor_change_rate <= 0.15
    assert set(report.per_kind) == set(KINDS)


def test_predictions_follow_replacement_images(demo):
    model, processor = demo
    sample = next(s for s in generate("test", 12, kinds=["count"]) if s.answer == "two")
    from whytoken.experiments.worlds.demo import blank_patches

    one_removed = blank_patches(sample.image, sample.cause_patches[:1])
    assert predict_answers(model, processor, [sample, sample], [sample.image, one_removed]) == ["two", "one"]


def test_bad_checkpoint_paths_raise_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="config.json"):
        load_demo(tmp_path)
    with pytest.raises(CheckpointError, match=METADATA_FILE):
        read_metadata(tmp_path)


def test_untrained_model_matches_the_checkpoint_architecture():
    meta = read_metadata()
    processor = build_processor(WORLD)
    model = build_model(processor.tokenizer, WORLD, DemoArchitecture.from_dict(meta["architecture"]), seed=0)
    assert sum(p.numel() for p in model.parameters()) == meta["parameters"]
    with pytest.raises(ConfigError, match="head"):
        DemoArchitecture(text_hidden=30, text_heads=4)
    with pytest.raises(ConfigError, match="images_per_step"):
        TrainConfig(images_per_step=0)
