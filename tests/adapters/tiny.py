"""Tiny random models and offline processors for the adapter tests.

Every builder takes a seed; nothing is downloaded. Models use the ``eager``
attention implementation, hidden sizes of 16-32, one or two layers and images
of 28-64 pixels, so a forward pass takes milliseconds on one core.
"""

from __future__ import annotations

import numpy as np
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

WORDS = ("the cat dog is on a mat red blue green what where describe image picture of capital france paris "
         "rome city country small big sits sees left right top bottom color shape and in").split()


def word_tokenizer(specials: dict[str, str], extra_special: dict[str, str] | None = None,
                   added: tuple[str, ...] = (), bos: bool = False, template: str | None = None,
                   model_max_length: int = 4096) -> PreTrainedTokenizerFast:
    """A whitespace word-level tokenizer over :data:`WORDS` plus the given special tokens.

    ``specials`` maps the standard roles (bos_token, eos_token, pad_token, unk_token, mask_token, cls_token,
    sep_token) to strings; ``extra_special`` adds named special tokens (image_token ...); ``added`` adds more
    special tokens without a role. ``template`` is an optional tokenizers TemplateProcessing single template.
    """
    extra_special = extra_special or {}
    vocab_tokens = list(dict.fromkeys([*specials.values(), *extra_special.values(), *added, *WORDS]))
    vocab = {w: i for i, w in enumerate(vocab_tokens)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token=specials.get("unk_token", "<unk>")))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    if template is not None:
        names = [t for t in template.split() if t in vocab]
        backend.post_processor = processors.TemplateProcessing(
            single=template, special_tokens=[(t, vocab[t]) for t in dict.fromkeys(names)])
    elif bos:
        bos_token = specials["bos_token"]
        backend.post_processor = processors.TemplateProcessing(
            single=f"{bos_token} $A", special_tokens=[(bos_token, vocab[bos_token])])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, model_max_length=model_max_length,
                                        extra_special_tokens=extra_special or None, **specials)
    if added:
        tokenizer.add_special_tokens({"additional_special_tokens": list(added)})
    return tokenizer


#: Weight init scale: larger than the HF default so tiny random models have peaked, input-dependent outputs.
INIT = 0.25

LM_SPECIALS = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}


def tiny_llama(seed: int = 0, vocab_size: int | None = None, layers: int = 2):
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = word_tokenizer(LM_SPECIALS, bos=True)
    config = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=layers, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=vocab_size or len(tokenizer), max_position_embeddings=256,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, initializer_range=INIT)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval(), tokenizer


def tiny_gpt2(seed: int = 0):
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = word_tokenizer(LM_SPECIALS)
    config = GPT2Config(n_embd=32, n_layer=2, n_head=4, n_positions=128, vocab_size=len(tokenizer),
                        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id, initializer_range=INIT)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    return GPT2LMHeadModel(config).eval(), tokenizer


def tiny_qwen2(seed: int = 0):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = word_tokenizer(LM_SPECIALS)
    config = Qwen2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=len(tokenizer), max_position_embeddings=256,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, initializer_range=INIT)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    return Qwen2ForCausalLM(config).eval(), tokenizer


def tiny_mistral(seed: int = 0):
    from transformers import MistralConfig, MistralForCausalLM

    tokenizer = word_tokenizer(LM_SPECIALS, bos=True)
    config = MistralConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           num_key_value_heads=2, vocab_size=len(tokenizer), max_position_embeddings=256,
                           sliding_window=None, bos_token_id=tokenizer.bos_token_id,
                           eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                           initializer_range=INIT)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    return MistralForCausalLM(config).eval(), tokenizer


def tiny_bert(seed: int = 0):
    from transformers import BertConfig, BertForMaskedLM

    specials = {"cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]", "pad_token": "[PAD]",
                "unk_token": "[UNK]"}
    tokenizer = word_tokenizer(specials, template="[CLS] $A [SEP]")
    config = BertConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                        vocab_size=len(tokenizer), max_position_embeddings=128, pad_token_id=tokenizer.pad_token_id,
                        initializer_range=INIT)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    return BertForMaskedLM(config).eval(), tokenizer


def tiny_llava(seed: int = 0, image_side: int = 32, patch: int = 8, pad_to_square: bool = False):
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor
    from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

    tokenizer = word_tokenizer(LM_SPECIALS, extra_special={"image_token": "<image>"}, bos=True)
    image_processor = LlavaImageProcessorPil(size={"shortest_edge": image_side},
                                             crop_size={"height": image_side, "width": image_side},
                                             do_pad=pad_to_square)
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=patch,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1)
    vision = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                              image_size=image_side, patch_size=patch, initializer_range=INIT)
    text = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, vocab_size=len(tokenizer), max_position_embeddings=256,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id, initializer_range=INIT)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_id=tokenizer.image_token_id,
                         vision_feature_select_strategy="default", vision_feature_layer=-1)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    return LlavaForConditionalGeneration(config).eval(), processor


def _qwen2_vl_processor_class():
    from transformers import Qwen2VLProcessor

    class Qwen2VLImageTextProcessor(Qwen2VLProcessor):
        """Qwen2-VL's processor without the video processor (which needs torchvision)."""

        @classmethod
        def get_attributes(cls):
            return ["image_processor", "tokenizer"]

    return Qwen2VLImageTextProcessor


def tiny_qwen2_vl(seed: int = 0, patch: int = 4, max_side: int = 64):
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    tokenizer = word_tokenizer(LM_SPECIALS, extra_special={"image_token": "<|image_pad|>",
                                                           "video_token": "<|video_pad|>"},
                               added=("<|vision_start|>", "<|vision_end|>"))
    image_processor = Qwen2VLImageProcessorPil(patch_size=patch, merge_size=2, temporal_patch_size=2,
                                               min_pixels=(2 * patch) ** 2, max_pixels=max_side * max_side)
    processor = _qwen2_vl_processor_class()(image_processor=image_processor, tokenizer=tokenizer)
    config = Qwen2VLConfig(
        vision_config=dict(depth=1, embed_dim=16, hidden_size=32, num_heads=2, patch_size=patch,
                           spatial_merge_size=2, temporal_patch_size=2, initializer_range=INIT),
        text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=len(tokenizer), max_position_embeddings=512,
                         rope_parameters={"rope_type": "default", "mrope_section": [1, 1, 2], "rope_theta": 10000.0},
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, initializer_range=INIT),
        image_token_id=tokenizer.image_token_id, video_token_id=tokenizer.video_token_id,
        vision_start_token_id=tokenizer.convert_tokens_to_ids("<|vision_start|>"))
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    return Qwen2VLForConditionalGeneration(config).eval(), processor


PINPOINTS = [[32, 64], [64, 32], [64, 64]]


def tiny_llava_next(seed: int = 0):
    from transformers import (CLIPVisionConfig, LlamaConfig, LlavaNextConfig, LlavaNextForConditionalGeneration,
                              LlavaNextProcessor)
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    tokenizer = word_tokenizer(LM_SPECIALS, extra_special={"image_token": "<image>"}, bos=True)
    image_processor = LlavaNextImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                                 image_grid_pinpoints=PINPOINTS)
    processor = LlavaNextProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=8,
                                   vision_feature_select_strategy="default", num_additional_image_tokens=1)
    vision = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                              image_size=32, patch_size=8, initializer_range=INIT)
    text = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, vocab_size=len(tokenizer), max_position_embeddings=512,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id, initializer_range=INIT)
    config = LlavaNextConfig(vision_config=vision, text_config=text, image_token_id=tokenizer.image_token_id,
                             image_grid_pinpoints=PINPOINTS, vision_feature_select_strategy="default",
                             vision_feature_layer=-1)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    return LlavaNextForConditionalGeneration(config).eval(), processor


def tiny_paligemma(seed: int = 0):
    from transformers import (GemmaConfig, PaliGemmaConfig, PaliGemmaForConditionalGeneration, PaliGemmaProcessor,
                              SiglipVisionConfig)
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    tokenizer = word_tokenizer(LM_SPECIALS, extra_special={"image_token": "<image>"})
    image_processor = SiglipImageProcessorPil(size={"height": 32, "width": 32})
    image_processor.image_seq_length = (32 // 8) ** 2
    processor = PaliGemmaProcessor(image_processor=image_processor, tokenizer=tokenizer)  # adds loc/seg tokens
    vision = SiglipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                image_size=32, patch_size=8)
    text = GemmaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, head_dim=8, vocab_size=len(tokenizer), max_position_embeddings=256,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id, initializer_range=INIT)
    config = PaliGemmaConfig(vision_config=vision, text_config=text, image_token_id=tokenizer.image_token_id,
                             projection_dim=32)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    return PaliGemmaForConditionalGeneration(config).eval(), processor


ROW_COL_TOKENS = tuple(f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6))


def tiny_idefics3(seed: int = 0):
    from transformers import (Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor,
                              Idefics3VisionConfig, LlamaConfig)
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    tokenizer = word_tokenizer(LM_SPECIALS, bos=True, added=("<fake_token_around_image>", "<image>",
                                                             "<end_of_utterance>", "<global-img>") + ROW_COL_TOKENS)
    image_processor = Idefics3ImageProcessorPil(size={"longest_edge": 64}, max_image_size={"longest_edge": 32})
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer,
                                  image_seq_len=((32 // 8) ** 2) // 4)
    vision = Idefics3VisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                  image_size=32, patch_size=8)
    text = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, vocab_size=len(tokenizer), max_position_embeddings=512,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id, initializer_range=INIT)
    config = Idefics3Config(vision_config=vision, text_config=text,
                            image_token_id=tokenizer.convert_tokens_to_ids("<image>"), scale_factor=2)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    return Idefics3ForConditionalGeneration(config).eval(), processor


def random_image(height: int = 40, width: int = 48, seed: int = 0) -> np.ndarray:
    """A seeded random RGB image, uint8 ``(height, width, 3)``."""
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)


#: HF class name -> builder of a tiny (model, processor) pair, for every family the adapters support.
BUILDERS = {
    "LlamaForCausalLM": tiny_llama,
    "MistralForCausalLM": tiny_mistral,
    "Qwen2ForCausalLM": tiny_qwen2,
    "GPT2LMHeadModel": tiny_gpt2,
    "BertForMaskedLM": tiny_bert,
    "LlavaForConditionalGeneration": tiny_llava,
    "LlavaNextForConditionalGeneration": tiny_llava_next,
    "Qwen2VLForConditionalGeneration": tiny_qwen2_vl,
    "PaliGemmaForConditionalGeneration": tiny_paligemma,
    "Idefics3ForConditionalGeneration": tiny_idefics3,
}

#: A prompt each family can tokenize (BERT fills the mask).
PROMPTS = {"BertForMaskedLM": "the cat is [MASK] the mat"}
DEFAULT_PROMPT = "what is the cat on"
