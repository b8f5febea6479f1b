"""The world576 recipe: exact cached training pass, LLaVA's image features, seeded data, resumable training."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from whytoken.errors import ConfigError
from whytoken.experiments.training.batches import _pixel_values
from whytoken.experiments.training.world576_batches import make_items, phrase_targets, phrase_width, suffix_batch
from whytoken.experiments.training.world576_model import World576Architecture, build_model, build_processor
from whytoken.experiments.training.world576_passes import image_features, prefix_pass, question_pass
from whytoken.experiments.training.world576_train import World576TrainConfig, train
from whytoken.experiments.worlds.world576 import (
    COLORS,
    PLURALS,
    SHAPES,
    WorldConfig,
    generate,
    make_scene_and_question,
)

SMALL = World576Architecture(vision_hidden=32, text_hidden=32, text_layers=3, text_heads=2, text_intermediate=64)


@pytest.fixture(scope="module")
def processor():
    return build_processor()


@pytest.fixture(scope="module")
def model(processor):
    torch.manual_seed(0)
    m = build_model(processor.tokenizer, architecture=SMALL, attn_implementation="sdpa")
    with torch.no_grad():  # break the symmetric initialisation so that logits differ between rows
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return m.eval()


def test_image_features_equal_llavas_and_see_the_whole_image(model):
    pixels = torch.randn(1, 3, 336, 336)
    base = image_features(model, pixels)[0]
    plain = torch.stack(list(model.model.get_image_features(pixel_values=pixels).pooler_output))
    assert torch.allclose(plain[0], base, atol=1e-6)
    edited = pixels.clone()
    edited[0, :, 14:28, 28:42] += 1.0  # patch (1, 2): global attention carries it to every image token
    changed = ((image_features(model, edited)[0] - base).abs().sum(-1) > 1e-6).nonzero().flatten().tolist()
    assert 1 * 24 + 2 in changed and len(changed) == 576


def test_cached_training_pass_equals_the_plain_forward(model, processor):
    config = World576TrainConfig(images_per_step=2, questions_per_image=3, drop_prob=1.0, remove_prob=1.0,
                                 blank_prob=1.0, architecture=SMALL)
    items = make_items(3, config)
    vocab = processor.tokenizer.get_vocab()
    with torch.no_grad():
        features = image_features(model, _pixel_values([it.pixels for it in items]))
        dropped = torch.from_numpy(np.stack([it.dropped for it in items]))
        cache, prefix_mask = prefix_pass(model, features, vocab["<s>"], dropped)
        batch = suffix_batch(items, vocab)
        hidden = question_pass(model, cache, prefix_mask, batch, 3)
        cached = model.lm_head(hidden[torch.arange(6), batch["at"]])
        images = [Image.fromarray(it.pixels) for it in items for _ in range(3)]
        texts = [f"<image> {q.question} answer :" for it in items for q in it.questions]
        inputs = processor(images=images, text=texts, padding=True, padding_side="left", return_tensors="pt")
        mask = inputs["attention_mask"].clone()
        for row in range(6):
            image_positions = torch.nonzero(inputs["input_ids"][row] == model.config.image_token_id).squeeze(-1)
            mask[row, image_positions[torch.from_numpy(items[row // 3].dropped)]] = 0
        model.set_attn_implementation("eager")
        try:
            plain = model(input_ids=inputs["input_ids"], attention_mask=mask, pixel_values=inputs["pixel_values"],
                          logits_to_keep=1).logits[:, -1]
        finally:
            model.set_attn_implementation("sdpa")
    assert all(it.dropped.any() for it in items)
    assert torch.allclose(cached, plain, atol=1e-5), float((cached - plain).abs().max())


def _answer_loss_gradients(model, loss):
    model.zero_grad(set_to_none=True)
    loss.backward()
    picked = {name: param.grad.clone() for name, param in model.named_parameters()
              if param.grad is not None and ("self_attn.k_proj" in name or "self_attn.q_proj" in name
                                             or "vision_tower.encoder" in name or "multi_modal_projector" in name)}
    model.zero_grad(set_to_none=True)
    return picked


def test_cached_training_pass_has_the_plain_forwards_gradients(model, processor):
    # The answer's gradient must reach the image tokens' keys and values through the repeated cache, or the
    # question tokens could never learn where to look (the loss would still be right, the learning would not).
    config = World576TrainConfig(images_per_step=2, questions_per_image=2, drop_prob=0.0, remove_prob=0.0,
                                 blank_prob=0.0, architecture=SMALL)
    items = make_items(5, config)
    vocab = processor.tokenizer.get_vocab()
    pixels = _pixel_values([it.pixels for it in items])
    cache, prefix_mask = prefix_pass(model, image_features(model, pixels), vocab["<s>"])
    batch = suffix_batch(items, vocab)
    hidden = question_pass(model, cache, prefix_mask, batch, 2)
    ce = torch.nn.functional.cross_entropy
    cached = _answer_loss_gradients(model, ce(model.lm_head(hidden[torch.arange(4), batch["at"]]), batch["answer"]))
    images = [Image.fromarray(it.pixels) for it in items for _ in range(2)]
    texts = [f"<image> {q.question} answer :" for it in items for q in it.questions]
    inputs = processor(images=images, text=texts, padding=True, padding_side="left", return_tensors="pt")
    logits = model(**inputs, logits_to_keep=1).logits[:, -1]
    plain = _answer_loss_gradients(model, ce(logits, batch["answer"]))
    assert sorted(cached) == sorted(plain) and any("layers.0.self_attn.k_proj" in name for name in plain)
    for name, grad in plain.items():
        assert grad.abs().max() > 0, name
        assert torch.allclose(cached[name], grad, rtol=1e-4, atol=1e-7), (name, float((cached[name] - grad).abs().max()))


def test_items_are_a_pure_function_of_seed_and_step():
    config = World576TrainConfig(images_per_step=2, questions_per_image=4)
    a, b = make_items(7, config), make_items(7, config)
    assert [q.question for it in a for q in it.questions] == [q.question for it in b for q in it.questions]
    assert all(np.array_equal(x.pixels, y.pixels) and np.array_equal(x.dropped, y.dropped) for x, y in zip(a, b))
    assert [q.question for it in make_items(8, config) for q in it.questions] != [q.question for it in a for q in it.questions]


def test_probe_targets_describe_the_scene():
    item = make_items(0, World576TrainConfig(images_per_step=1, questions_per_image=2, remove_prob=0.0))[0]
    covered = item.vision_targets[:, 0] > 0
    assert covered.any() and (item.silhouettes[covered].sum(-1) > 0).all()
    assert ((item.silhouettes >= 0) & (item.silhouettes <= 1)).all()
    first = item.object_targets[:, 1] > 0  # one first patch per object
    assert 1 <= int(first.sum()) <= 16
    assert item.slot_targets.shape == (2, 16)


def _named(scene, words, i):
    singular = {plural: shape for shape, plural in PLURALS.items()}
    shape = singular.get(words[i], words[i])
    color = words[i - 1] if words[i - 1] in COLORS else None
    return [o for o in scene.objects if o.shape == shape and color in (None, o.color)]


def test_phrase_targets_name_the_scenes_objects():
    # Oracle: a hand-written reading of the question over the scene's object list.
    seen = set()
    for seed in range(40):
        for kind in ("color", "exists", "count", "relation", "same_color"):
            scene, question = make_scene_and_question(seed, kind)
            words = question.question.split()
            found = phrase_targets(question.question, scene, WorldConfig())
            assert [i for i, _, _ in found] == [i for i, w in enumerate(words) if w in SHAPES or w in PLURALS.values()]
            for i, labels, count in found:
                named = _named(scene, words, i)
                colours = sorted({list(COLORS).index(o.color) for o in named})
                slots = sorted({4 + o.slot_row * 4 + o.slot_col for o in named})
                assert labels.nonzero()[0].tolist() == colours + slots
                assert count == min(len(named), 3)
                seen.add((kind, count))
    assert {("count", 0), ("count", 2), ("exists", 0), ("exists", 1)} <= seen


def test_items_carry_the_phrases_of_their_questions():
    item = make_items(2, World576TrainConfig(images_per_step=1, questions_per_image=6))[0]
    for (j, i), labels in zip(item.phrase_positions, item.phrase_labels):
        word = item.questions[j].question.split()[i]
        assert word in SHAPES or word in PLURALS.values()
        assert labels.shape == (phrase_width(WorldConfig()),)
    words = sum(sum(w in SHAPES or w in PLURALS.values() for w in q.question.split()) for q in item.questions)
    assert len(item.phrase_positions) == len(item.phrase_counts) == words > 0


@pytest.mark.parametrize("bad", [dict(kind_weights=(1.0, 1.0)), dict(steps=0), dict(probe_layer=3),
                                 dict(phrase_layer=4), dict(phrase_weight=-1.0), dict(blank_prob=2.0), dict(lr=0.0)])
def test_bad_training_config_raises(bad):
    with pytest.raises(ConfigError):
        World576TrainConfig(**bad)


def test_training_runs_logs_and_resumes(tmp_path):
    config = World576TrainConfig(steps=2, images_per_step=1, questions_per_image=2, eval_every=0, vision_steps=2,
                                 vision_batch=2, vision_pool=2, architecture=SMALL)
    model, _, curve, _ = train(config, tmp_path)
    assert [e["vision_step"] for e in curve if "vision_step" in e] == [2]
    assert curve[-1]["step"] == 2 and (tmp_path / "train_state.pt").is_file()
    longer = World576TrainConfig(**{**config.__dict__, "steps": 3})
    with pytest.raises(ConfigError):  # another configuration does not resume silently
        train(longer, tmp_path)
    again, _, curve_again, _ = train(config, tmp_path)  # finished: nothing left to do
    lines = [json.loads(line) for line in (tmp_path / "curve.jsonl").read_text().splitlines()]
    assert lines == curve_again and lines[-1]["step"] == 2
    assert all(torch.equal(p, q) for p, q in zip(model.state_dict().values(), again.state_dict().values()))


def test_extending_a_run_before_its_decay_is_the_longer_run(tmp_path):
    # Oracle: two steps, then extended to four, equal four steps run at once (data and schedule are pure in step).
    base = dict(images_per_step=1, questions_per_image=2, eval_every=0, vision_steps=1, vision_batch=1,
                vision_pool=1, decay_fraction=0.5, architecture=SMALL)
    short, long = World576TrainConfig(steps=2, **base), World576TrainConfig(steps=4, **base)
    train(short, tmp_path / "extended")  # decay of 2 steps starts at 1, of 4 steps at 2: the state at 2 is too late
    with pytest.raises(ConfigError, match="after the learning-rate decay began"):
        train(long, tmp_path / "extended")
    constant = {**base, "decay_fraction": 0.0}
    train(World576TrainConfig(steps=2, **constant), tmp_path / "constant")
    extended, _, curve, _ = train(World576TrainConfig(steps=4, threads=1, **{**constant, "eval_n": 3}),
                                  tmp_path / "constant")
    direct, _, _, _ = train(World576TrainConfig(steps=4, **constant), tmp_path / "direct")
    assert [e["step"] for e in curve if "step" in e] == [2, 4]
    assert all(torch.equal(p, q) for p, q in zip(extended.state_dict().values(), direct.state_dict().values()))
    with pytest.raises(ConfigError, match="lr differ"):
        train(World576TrainConfig(steps=6, lr=1e-3, **constant), tmp_path / "constant")


def test_samples_prompt_matches_the_processor(processor):
    sample = generate("test", 1)[0]
    ids = processor(images=sample.image, text=sample.prompt, return_tensors="pt")["input_ids"][0]
    tokens = processor.tokenizer.convert_ids_to_tokens(ids)
    assert tokens[:2] == ["<s>", "<image>"] and tokens.count("<image>") == 576
    for index in sample.cause_words:  # word i of prompt.split() is token 576 + i
        assert tokens[576 + index] == sample.words[index]
