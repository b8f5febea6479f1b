"""Tiny random models and offline processors for the adapter tests.

Every builder takes a seed; nothing is downloaded. Models use the ``eager``
attention implementation, hidden sizes of 16-32, one or two layers and images
of 28-64 pixels, so a forward pass takes milliseconds on one core.
"""

from __future__ import annotations

import numpy as np
import torch

from whytoken.adapters.toy import INIT, LM_SPECIALS, WORDS, tiny_llama, tiny_llava, word_tokenizer

_REEXPORTED = (INIT, LM_SPECIALS, WORDS, tiny_llama, tiny_llava, word_tokenizer)


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


def tiny_qwen2_5_vl(seed: int = 0, patch: int = 4, max_side: int = 64):
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    class Qwen2_5_VLImageTextProcessor(Qwen2_5_VLProcessor):
        """Qwen2.5-VL's processor without the video processor (which needs torchvision)."""

        @classmethod
        def get_attributes(cls):
            return ["image_processor", "tokenizer"]

    tokenizer = word_tokenizer(LM_SPECIALS, extra_special={"image_token": "<|image_pad|>",
                                                           "video_token": "<|video_pad|>"},
                               added=("<|vision_start|>", "<|vision_end|>"))
    image_processor = Qwen2VLImageProcessorPil(patch_size=patch, merge_size=2, temporal_patch_size=2,
                                               min_pixels=(2 * patch) ** 2, max_pixels=max_side * max_side)
    processor = Qwen2_5_VLImageTextProcessor(image_processor=image_processor, tokenizer=tokenizer)
    config = Qwen2_5_VLConfig(
        vision_config=dict(depth=2, hidden_size=16, intermediate_size=32, num_heads=2, out_hidden_size=32,
                           patch_size=patch, spatial_merge_size=2, temporal_patch_size=2, window_size=4 * patch,
                           fullatt_block_indexes=[1], initializer_range=INIT),
        text_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=len(tokenizer), max_position_embeddings=512,
                         rope_parameters={"rope_type": "default", "mrope_section": [1, 1, 2], "rope_theta": 10000.0},
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, initializer_range=INIT),
        image_token_id=tokenizer.image_token_id, video_token_id=tokenizer.video_token_id,
        vision_start_token_id=tokenizer.convert_tokens_to_ids("<|vision_start|>"))
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    return Qwen2_5_VLForConditionalGeneration(config).eval(), processor


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


def tiny_smolvlm(seed: int = 0):
    """SmolVLM's model with the Idefics3 processor: SmolVLMProcessor needs ``num2words`` (not installed) and a
    torchvision video processor; the Idefics3 processor produces the same token layout for single images."""
    from transformers import (Idefics3Processor, LlamaConfig, SmolVLMConfig, SmolVLMForConditionalGeneration,
                              SmolVLMVisionConfig)
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    tokenizer = word_tokenizer(LM_SPECIALS, bos=True, added=("<fake_token_around_image>", "<image>",
                                                             "<end_of_utterance>", "<global-img>") + ROW_COL_TOKENS)
    image_processor = Idefics3ImageProcessorPil(size={"longest_edge": 64}, max_image_size={"longest_edge": 32})
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer, image_seq_len=4)
    vision = SmolVLMVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                 image_size=32, patch_size=8)
    text = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, vocab_size=len(tokenizer), max_position_embeddings=512,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id, initializer_range=INIT)
    config = SmolVLMConfig(vision_config=vision, text_config=text,
                           image_token_id=tokenizer.convert_tokens_to_ids("<image>"), scale_factor=2)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    return SmolVLMForConditionalGeneration(config).eval(), processor


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
    "Qwen2_5_VLForConditionalGeneration": tiny_qwen2_5_vl,
    "SmolVLMForConditionalGeneration": tiny_smolvlm,
}

#: A prompt each family can tokenize (BERT fills the mask).
PROMPTS = {"BertForMaskedLM": "the cat is [MASK] the mat"}
DEFAULT_PROMPT = "what is the cat on"
