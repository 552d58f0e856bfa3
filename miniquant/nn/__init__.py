"""A from-scratch NumPy GPT: config, functional ops, the model, generation, tokenizers.

Reading order: ``config``, ``functional``, ``gpt``, ``generate``, ``tokenizer``, ``data``,
``backward``, ``train``, ``io``, ``evaluate``.
"""
from .bpe import BPETokenizer
from .config import GPTConfig
from .data import Corpus, build_corpus, in_validation
from .evaluate import arithmetic_accuracy, arithmetic_answers, arithmetic_results, bits_per_byte
from .generate import generate, sample_next
from .gpt import GPT, expected_shapes, init_params
from .gpt2 import load_gpt2
from .gguf_io import export_gguf, load_gguf
from .io import load_checkpoint, load_default, load_model, save_checkpoint
from .tokenizer import ByteTokenizer

__all__ = [
    "BPETokenizer", "ByteTokenizer", "Corpus", "GPT", "GPTConfig", "arithmetic_accuracy", "arithmetic_answers",
    "arithmetic_results", "bits_per_byte", "build_corpus", "expected_shapes", "export_gguf", "generate", "in_validation",
    "init_params", "load_checkpoint", "load_default", "load_gguf", "load_gpt2", "load_model", "sample_next", "save_checkpoint",
]
