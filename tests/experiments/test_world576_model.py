"""The committed whytoken-world576 checkpoint: plain-transformers loading, accuracy, interventions, metadata.

Nothing here trains the model; ``whytoken/data/whytoken-world576`` is what
``python -m whytoken.experiments.training.world576_train ... --package`` wrote
(the command is in its metadata). Figures on the test split are in
benchmarks/RESULTS.md ("World576 model").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from whytoken.errors import CheckpointError
from whytoken.experiments.training.world576_evaluate import accuracy_by_kind, intervention_check, predict_answers
from whytoken.experiments.training.world576_model import (
    DEFAULT_CHECKPOINT_DIR,
    METADATA_FILE,
    World576Architecture,
    build_model,
    build_processor,
    load_world576,
    read_metadata,
)
from whytoken.experiments.worlds.world576 import KINDS, WorldConfig, generate

#: The LLaVA-1.5 geometry: 24 x 24 patches of a 336-pixel image.
IMAGE_TOKENS = 576


@pytest.fixture(scope="module")
def world576():
    torch.set_num_threads(1)
    return load_world576()


def test_checkpoint_files_are_package_data_and_small():
    names = {p.name for p in DEFAULT_CHECKPOINT_DIR.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "processor_config.json", METADATA_FILE} <= names
    assert sum(p.stat().st_size for p in DEFAULT_CHECKPOINT_DIR.iterdir()) < 25 * 2**20
    assert all(p.suffix in {".json", ".safetensors", ".jinja"} for p in DEFAULT_CHECKPOINT_DIR.iterdir())


def test_checkpoint_loads_through_plain_transformers_without_whytoken(tmp_path):
    s = generate("test", 1, seed=7)[0]
    s.image.save(tmp_path / "scene.png")
    code = textwrap.dedent(
        f"""
        import json, sys
        import torch
        from PIL import Image
        from transformers import AutoProcessor, LlavaForConditionalGeneration
        torch.set_num_threads(1)
        d = {str(DEFAULT_CHECKPOINT_DIR)!r}
        processor = AutoProcessor.from_pretrained(d)
        model = LlavaForConditionalGeneration.from_pretrained(d, attn_implementation="eager").eval()
        image = Image.open({str(tmp_path / "scene.png")!r}).convert("RGB")
        inputs = processor(images=image, text={s.prompt!r}, return_tensors="pt")
        out = model.generate(**inputs, max_new_tokens=2, do_sample=False)
        new = processor.tokenizer.convert_ids_to_tokens(out[0, inputs["input_ids"].shape[1]:].tolist())
        n_image = int((inputs["input_ids"] == model.config.image_token_id).sum())
        attn = model(**inputs, output_attentions=True).attentions
        print(json.dumps({{"new": new, "n_image": n_image, "shape": list(attn[0].shape),
                          "n_ids": inputs["input_ids"].shape[1], "whytoken": "whytoken" in sys.modules}}))
        """
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["new"][0] == s.answer and not result["whytoken"]
    assert result["n_image"] == IMAGE_TOKENS and result["shape"][-1] == result["shape"][-2] == result["n_ids"]


def test_accuracy_on_small_held_in_and_held_out_subsets(world576):
    model, processor = world576
    for split, seed in (("train", 5), ("test", 11)):
        report = accuracy_by_kind(model, processor, generate(split, 40, seed=seed))
        assert report["all"]["n"] == 40 and report["all"]["accuracy"] >= 0.9, (split, report)


def test_blanking_the_cause_changes_the_answer_and_the_background_does_not(world576):
    model, processor = world576
    report = intervention_check(model, processor, generate("test", 12, seed=13), seed=0)
    assert report.n_eligible >= 8
    assert report.rates["cause_blank"] >= 0.85 and report.rates["background_blank"] <= 0.15


def test_answers_follow_the_image(world576):
    model, processor = world576
    colour = generate("test", 4, seed=17, kinds=["color"])
    assert len(colour) == 4
    answers = predict_answers(model, processor, colour)
    assert answers == [s.answer for s in colour]
    swapped = predict_answers(model, processor, colour, images=[s.image for s in colour[1:] + colour[:1]])
    assert swapped != answers


def test_metadata_describes_the_checkpoint_and_its_test_figures():
    meta = read_metadata()
    assert meta["model"] == "whytoken-world576" and meta["prompt_format"]
    assert meta["train_command"].startswith("python -m whytoken.experiments.training.world576_train")
    assert WorldConfig.from_dict(meta["world"]) == WorldConfig()
    per_kind = meta["accuracy"]["per_kind"]
    assert set(KINDS) <= set(per_kind) and per_kind["all"]["accuracy"] >= 0.95
    rates = meta["interventions"]["rates"]
    assert rates["cause_blank"] >= 0.95 and rates["background_blank"] <= 0.05 and rates["distractor_blank"] <= 0.05
    model = build_model(build_processor().tokenizer, architecture=World576Architecture.from_dict(meta["architecture"]))
    assert sum(p.numel() for p in model.parameters()) == meta["parameters"]


def test_bad_checkpoint_directories_raise_whytoken_errors(tmp_path):
    with pytest.raises(CheckpointError, match="config.json"):
        load_world576(tmp_path)
    with pytest.raises(CheckpointError, match=METADATA_FILE):
        read_metadata(tmp_path)


def test_the_short_name_resolves_to_the_packaged_checkpoint():
    from whytoken.adapters.loading import list_models, world576_checkpoint

    assert "whytoken-world576" in list_models()
    assert world576_checkpoint().resolve() == DEFAULT_CHECKPOINT_DIR.resolve()
