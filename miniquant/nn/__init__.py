"""A from-scratch NumPy GPT: config, functional ops, the model, generation, tokenizers.

Reading order: ``config``, ``functional``, ``gpt``, ``generate``, ``tokenizer``. Training,
the shipped model and GPT-2 checkpoint loading are still to come (issue 4).
"""
from .config import GPTConfig
from .generate import generate, sample_next
from .gpt import GPT, expected_shapes, init_params
from .tokenizer import ByteTokenizer

__all__ = ["GPT", "ByteTokenizer", "GPTConfig", "expected_shapes", "generate", "init_params", "sample_next"]
