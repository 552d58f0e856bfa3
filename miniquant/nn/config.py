"""``GPTConfig``: the shape of a GPT-2-style model, frozen and validated."""
from __future__ import annotations

import dataclasses
import numbers


@dataclasses.dataclass(frozen=True)
class GPTConfig:
    """Sizes of a GPT-2-style decoder.

    Parameters
    ----------
    vocab_size : int
        Number of token ids (256 for the byte tokenizer, 50257 for GPT-2).
    n_ctx : int
        Longest sequence (number of learned positions).
    n_embd : int
        Width of the residual stream; divisible by ``n_head``.
    n_head : int
        Attention heads per layer.
    n_layer : int
        Transformer blocks.
    layer_norm_eps : float
        Epsilon inside every LayerNorm (GPT-2: 1e-5).

    Examples
    --------
    >>> GPTConfig(vocab_size=256, n_ctx=64, n_embd=32, n_head=4, n_layer=2).head_size
    8
    """

    vocab_size: int = 256
    n_ctx: int = 128
    n_embd: int = 128
    n_head: int = 4
    n_layer: int = 4
    layer_norm_eps: float = 1e-5

    def __post_init__(self):
        for name in ("vocab_size", "n_ctx", "n_embd", "n_head", "n_layer"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if not isinstance(self.layer_norm_eps, numbers.Real) or not self.layer_norm_eps > 0:
            raise ValueError(f"layer_norm_eps must be a positive number, got {self.layer_norm_eps!r}")

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head
