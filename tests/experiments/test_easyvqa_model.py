"""The committed whytoken-easyvqa checkpoint: plain-transformers loading, local image tokens, accuracy, interventions.

Nothing here trains the model; ``whytoken/data/whytoken-easyvqa`` is what
``python -m whytoken.experiments.training.easyvqa_train`` wrote. Figures on the
whole test split are in benchmarks/RESULTS.md ("EasyVQA model").
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

from whytoken.errors import CheckpointError, ConfigError
from whytoken.experiments.training.demo_model import DemoArchitecture
from whytoken.experiments.training.easyvqa_model import (
    DEFAULT_CHECKPOINT_DIR,
    METADATA_FILE,
    build_model,
    build_processor,
    load_easyvqa,
    read_metadata,
)

easy_vqa = pytest.importorskip("easy_vqa", reason="easy-VQA's data: pip install easy-vqa==1.0 (setup_env.py --dev)")

from whytoken.experiments.training.batches import hidden_states  # noqa: E402
from whytoken.experiments.training.easyvqa_batches import build_batch, group_weights, pick_questions  # noqa: E402
from whytoken.experiments.training.easyvqa_evaluate import (  # noqa: E402
    accuracy_by_kind,
    intervention_check,
    predict,
    token_locality,
)
from whytoken.experiments.training.easyvqa_train import EasyVQATrainConfig  # noqa: E402
from whytoken.experiments.training.encoding import encode  # noqa: E402
from whytoken.experiments.worlds.easyvqa import (  # noqa: E402
    NO_SHAPE_ANSWER,
    QUESTION_TYPES,
    demo_sample,
    load_samples,
)


@pytest.fixture(scope="module")
def easyvqa():
    torch.set_num_threads(1)
    return load_easyvqa()


def test_checkpoint_files_are_package_data_and_small():
    names = {p.name for p in DEFAULT_CHECKPOINT_DIR.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "processor_config.json", METADATA_FILE} <= names
    assert sum(p.stat().st_size for p in DEFAULT_CHECKPOINT_DIR.iterdir()) < 4 * 2**20
    assert all(p.suffix in {".json", ".safetensors", ".jinja"} for p in DEFAULT_CHECKPOINT_DIR.iterdir())


def test_checkpoint_loads_through_plain_transformers_without_easy_vqa_or_whytoken():
    s = demo_sample()
    code = textwrap.dedent(
        f"""
        import json, sys
        sys.modules["easy_vqa"] = None  # the checkpoint must not need the data package
        import torch
        from PIL import Image
        from transformers import AutoProcessor, LlavaForConditionalGeneration
        torch.set_num_threads(1)
        d = {str(DEFAULT_CHECKPOINT_DIR)!r}
        processor = AutoProcessor.from_pretrained(d)
        model = LlavaForConditionalGeneration.from_pretrained(d, attn_implementation="eager").eval()
        image = Image.frombytes("RGB", (64, 64), bytes.fromhex({s.image.tobytes().hex()!r}))
        inputs = processor(images=image, text={s.prompt!r}, return_tensors="pt")
        out = model.generate(**inputs, max_new_tokens=3, do_sample=False)
        new = processor.tokenizer.convert_ids_to_tokens(out[0, inputs["input_ids"].shape[1]:].tolist())
        attn = model(**inputs, output_attentions=True).attentions
        print(json.dumps({{"new": new, "n_attn": len(attn), "shape": list(attn[0].shape),
                          "whytoken": "whytoken" in sys.modules}}))
        """
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["new"][:2] == [s.answer, "</s>"] and not result["whytoken"]
    assert result["n_attn"] == 3 and result["shape"][-1] == 1 + 64 + len(s.words) - 1


def test_processor_expands_one_token_per_patch_and_tokens_are_local(easyvqa):
    model, processor = easyvqa
    s = demo_sample()
    ids = processor(images=s.image, text=s.prompt, return_tensors="pt")["input_ids"][0]
    positions = torch.nonzero(ids == model.config.image_token_id).squeeze(-1).tolist()
    first = 1 + len(s.question.split())
    assert positions == list(range(first, first + 64)) and model.config.image_seq_length == 64
    assert model.config.vision_feature_layer == -2 and model.config.vision_config.num_hidden_layers == 1
    locality = token_locality(model, load_samples("test", 2, offset=100), seed=3)
    assert locality["other_max"] == 0.0 and locality["own"] > 0.05


def test_chat_template_and_generate_answer_one_word(easyvqa):
    model, processor = easyvqa
    s = demo_sample()
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": s.question}]}]
    assert processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) == s.prompt
    inputs = processor(images=s.image, text=s.prompt, return_tensors="pt")
    out = model.generate(**inputs, do_sample=False)
    assert processor.tokenizer.convert_ids_to_tokens(out[0, inputs["input_ids"].shape[1]:].tolist()) == [
        s.answer, "</s>"]


def test_accuracy_on_small_held_in_and_held_out_subsets(easyvqa):
    model, processor = easyvqa
    for split, offset in (("train", 5000), ("test", 3000)):
        report = accuracy_by_kind(model, processor, load_samples(split, 80, offset=offset))
        assert all(report[t]["n"] == 20 for t in QUESTION_TYPES)
        assert report["all"]["accuracy"] >= 0.95, (split, report)


def test_removing_the_shape_changes_answers_and_removing_background_does_not(easyvqa):
    model, processor = easyvqa
    report = intervention_check(model, processor, load_samples("test", 48, offset=2000), seed=1)
    assert report.n_eligible >= 25 and set(report.per_type) <= set(QUESTION_TYPES)
    # figures on 1,000 test questions: benchmarks/RESULTS.md, "EasyVQA model"
    assert report.rates["mask_cause"] >= 0.8 and report.rates["pixel_cause"] >= 0.8
    assert report.rates["mask_background"] <= 0.05 and report.rates["pixel_background"] == 0.0
    probs = report.mean_answer_probability
    assert probs["mask_cause"] < 0.5 * probs["none"] and probs["mask_background"] > 0.8 * probs["none"]


def test_training_batches_equal_processor_batches_and_the_shared_forward(easyvqa):
    model, processor = easyvqa
    rng = np.random.default_rng(0)
    train = load_samples("train", 400, order="source")
    weights = group_weights(train)
    images = sorted({s.image_id for s in train})[:3]
    groups = [pick_questions([s for s in train if s.image_id == i], 3, rng, weights) for i in images]
    batch = build_batch(groups, processor.tokenizer.get_vocab(), rng)  # no edits
    slow = encode(processor, [q for g in groups for q in g], with_answers=True)
    assert torch.equal(batch["input_ids"], slow["input_ids"])
    assert torch.equal(batch["attention_mask"], slow["attention_mask"])
    assert torch.equal(batch["answer_positions"], slow["last"])
    assert torch.allclose(batch["pixel_values"][batch["image_index"]], slow["pixel_values"], atol=1e-6)
    with torch.no_grad():
        shared = hidden_states(model, batch)
        plain = model.model(input_ids=slow["input_ids"], attention_mask=slow["attention_mask"],
                            pixel_values=slow["pixel_values"]).last_hidden_state
    assert torch.allclose(shared, plain, atol=1e-5)


def test_no_shape_edits_ask_questions_again_with_the_no_shape_answer(easyvqa):
    _, processor = easyvqa
    image_id = load_samples("test", 1)[0].image_id
    s = [q for q in load_samples("test", order="source") if q.image_id == image_id][:3]
    batch = build_batch([s], processor.tokenizer.get_vocab(), np.random.default_rng(0), empty_prob=1.0)
    tokens = processor.tokenizer.convert_ids_to_tokens(batch["answer_ids"].tolist())
    expected = [("yes" if " no " in f" {q.question} " or " not " in f" {q.question} " else "no")
                if q.qtype.startswith("yes_no") else NO_SHAPE_ANSWER for q in s[:2]]
    assert tokens == [q.answer for q in s] + expected * 2
    last = batch["input_ids"][-1] == processor.tokenizer.convert_tokens_to_ids("<image>")
    masked = batch["attention_mask"][-1][last].numpy() == 0
    assert masked.tolist() == (s[1].mask.coverage.reshape(-1) > 0).tolist()
    assert (batch["cause_targets"][len(s):] == -1).all() and batch["pixel_values"].shape[0] == 2


def test_predictions_follow_replacement_images_and_removals(easyvqa):
    model, processor = easyvqa
    s = demo_sample()
    from whytoken.experiments.worlds.easyvqa import blank_patches

    painted = blank_patches(s.image, s.cause_patches, s.mask.background)
    answers, probs = predict(model, processor, [s, s, s], images=[s.image, painted, s.image],
                             removed=[(), (), s.cause_patch_indices])
    assert answers[0] == s.answer and answers[1] != s.answer and answers[2] != s.answer
    assert probs[0] > 0.9 > 0.1 > max(probs[1:])


def test_metadata_describes_the_checkpoint():
    meta = read_metadata()
    assert meta["model"] == "whytoken-easyvqa" and meta["geometry"]["image_tokens"] == 64
    assert meta["train_command"].startswith("python -m whytoken.experiments.training.easyvqa_train")
    assert meta["accuracy"]["test"]["all"]["n"] == 9673 and meta["accuracy"]["test"]["all"]["accuracy"] >= 0.95
    assert meta["token_locality"]["other_max"] == 0.0
    processor = build_processor()
    model = build_model(processor.tokenizer, DemoArchitecture.from_dict(meta["architecture"]))
    assert sum(p.numel() for p in model.parameters()) == meta["parameters"]


def test_bad_inputs_raise_whytoken_errors(tmp_path):
    with pytest.raises(CheckpointError, match="config.json"):
        load_easyvqa(tmp_path)
    with pytest.raises(CheckpointError, match=METADATA_FILE):
        read_metadata(tmp_path)
    with pytest.raises(ConfigError, match="vision_layers=2"):
        build_model(build_processor().tokenizer, DemoArchitecture(vision_layers=2))
    with pytest.raises(ConfigError, match="empty_prob"):
        EasyVQATrainConfig(empty_prob=1.5)


def test_a_killed_training_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    from whytoken.experiments.training import easyvqa_train

    config = EasyVQATrainConfig(steps=3, images_per_step=2, questions_per_image=2, eval_every=0, vision_steps=2,
                                vision_batch=2, save_every=1, train_images=6)
    straight = easyvqa_train.train(config, tmp_path / "straight")
    real_lr = easyvqa_train._lr_at

    def crash_at_step_2(step, cfg):
        if step == 2:
            raise KeyboardInterrupt("killed")
        return real_lr(step, cfg)

    monkeypatch.setattr(easyvqa_train, "_lr_at", crash_at_step_2)
    with pytest.raises(KeyboardInterrupt):
        easyvqa_train.train(config, tmp_path / "killed")
    monkeypatch.setattr(easyvqa_train, "_lr_at", real_lr)
    resumed = easyvqa_train.train(config, tmp_path / "killed")
    for (name, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), name
    curve = [json.loads(line) for line in (tmp_path / "killed" / "curve.jsonl").read_text().splitlines()]
    untimed = [[{k: v for k, v in e.items() if k != "elapsed_s"} for e in h] for h in (curve, straight.history)]
    assert untimed[0] == untimed[1] and len(curve) == 2
    with pytest.raises(CheckpointError, match="other settings"):
        easyvqa_train.train(EasyVQATrainConfig(steps=4, images_per_step=2, questions_per_image=2, eval_every=0,
                                               vision_steps=2, vision_batch=2, save_every=1, train_images=6),
                            tmp_path / "killed")


def test_load_model_short_name_traces_and_maps_the_ground_truth_onto_the_trace():
    import whytoken as wt
    from whytoken.adapters.trace import TokenKind
    from whytoken.experiments.harness.datasets import ground_truth_positions, load_dataset

    adapter = wt.load_model("whytoken-easyvqa")
    sample = next(s for s in load_dataset({"kind": "easyvqa", "n": 12, "offset": 40})
                  if s.meta["kind"] == "yes_no_color" or not s.meta["absent"])
    trace = adapter.trace(image=sample.pil_image(), prompt=sample.prompt, max_new_tokens=1, chat_template=False)
    assert trace.generated[0].text.strip() == sample.answer
    patches = [p for p in trace.positions if p.kind is TokenKind.IMAGE_PATCH]
    assert len(patches) == 64 and patches[9].patch == (1, 1) and patches[9].box == (8, 8, 16, 16)
    truth = ground_truth_positions(trace, sample)
    by_index = {p.index: p for p in trace.positions}
    assert {by_index[i].patch for i in truth if by_index[i].patch is not None} == set(sample.cause_patches)
    assert sorted(by_index[i].text.strip() for i in truth if by_index[i].patch is None) == sorted(
        sample.words[w] for w in sample.cause_words)
