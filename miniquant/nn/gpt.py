"""A GPT-2-style decoder in NumPy, readable top to bottom (after picoGPT).

Weights live in one flat dict named as in Hugging Face GPT-2 checkpoints (without the
``transformer.`` prefix); linear weights are ``(K, N)`` = (in, out) so a layer is
``x @ w + b``, and any of them may be a ``QTensor``::

    wte [V, E]   wpe [n_ctx, E]   ln_f.weight/bias [E]
    h.{i}.ln_1.weight/bias [E]          h.{i}.attn.c_attn.weight [E, 3E]  .bias [3E]
    h.{i}.attn.c_proj.weight [E, E]     h.{i}.ln_2.weight/bias [E]
    h.{i}.mlp.c_fc.weight [E, 4E]       h.{i}.mlp.c_proj.weight [4E, E]   (+ biases)

The output head is tied to ``wte``; ``wte`` may be a ``QTensor`` quantized along its rows
(``axis=1``, ``Recipe.head``): the logits then run through the kernels with ``wte.T`` (the same
stored bytes, a weight ``[E, V]``) and the embedding lookup dequantizes only the rows it reads.
Shapes in comments: ``B`` batch, ``T`` new tokens,
``P`` cached (past) tokens, ``E`` features, ``H`` heads of size ``D``. Tests:
``tests/nn/test_gpt.py``.
"""
from __future__ import annotations

import numpy as np

from ..mixed import is_quantized_weight
from ..tensor import QTensor
from .config import GPTConfig
from .functional import ACTIVATIONS, attention, causal_mask, gelu, int8_activation_matmul, layer_norm, linear


def expected_shapes(config: GPTConfig) -> dict[str, tuple[int, ...]]:
    """Every weight's name and shape for ``config`` (the names a checkpoint must provide)."""
    E, V = config.n_embd, config.vocab_size
    shapes = {"wte": (V, E), "wpe": (config.n_ctx, E)}
    for i in range(config.n_layer):
        p = f"h.{i}."
        shapes.update({
            p + "ln_1.weight": (E,), p + "ln_1.bias": (E,),
            p + "attn.c_attn.weight": (E, 3 * E), p + "attn.c_attn.bias": (3 * E,),
            p + "attn.c_proj.weight": (E, E), p + "attn.c_proj.bias": (E,),
            p + "ln_2.weight": (E,), p + "ln_2.bias": (E,),
            p + "mlp.c_fc.weight": (E, 4 * E), p + "mlp.c_fc.bias": (4 * E,),
            p + "mlp.c_proj.weight": (4 * E, E), p + "mlp.c_proj.bias": (E,),
        })
    shapes.update({"ln_f.weight": (E,), "ln_f.bias": (E,)})
    return shapes


def init_params(config: GPTConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """GPT-2 initialization: N(0, 0.02) weights, residual projections scaled by 1/sqrt(2 n_layer), zero biases, unit gains."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in expected_shapes(config).items():
        if name.endswith(".bias"):
            value = np.zeros(shape)
        elif ".ln_" in name or name.startswith("ln_f"):
            value = np.ones(shape)
        else:
            std = 0.02 / np.sqrt(2 * config.n_layer) if name.endswith("c_proj.weight") else 0.02
            value = rng.normal(0.0, std, shape)
        params[name] = value.astype(np.float32)
    return params


class Params(dict):
    """A model's weights by name: a plain ``dict`` that also knows the ``GPTConfig`` they fit.

    ``GPT(config, params).params`` is one, so that code given only the weights (a calibrated
    method in ``quantize_model``) can still run the model they belong to.
    """

    def __init__(self, config: GPTConfig, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.config = config


class GPT:
    """A GPT-2-style model: ``GPT(config, params).forward(ids)`` gives logits ``(B, T, V)``.

    Examples
    --------
    >>> config = GPTConfig(vocab_size=256, n_ctx=16, n_embd=32, n_head=4, n_layer=2)
    >>> model = GPT(config, init_params(config))
    >>> model.forward(np.array([[1, 2, 3]])).shape
    (1, 3, 256)
    """

    def __init__(self, config: GPTConfig, params: dict, activations: str = "float"):
        """``activations="int8"``: quantized matrices multiply activations rounded to int8 (W4A8, W8A8).

        ``self.params`` is a ``Params`` dict (it knows its ``config``). The attribute ``observer``
        (``None`` by default) may be set to a callable ``observer(name, x)``: every linear layer
        then calls it with its weight's name (``"h.0.attn.c_attn.weight"``) and its input ``x``
        ``(B, T, K)`` before multiplying; calibration (``miniquant.methods.calibration``) attaches here.
        """
        if not isinstance(config, GPTConfig):
            raise TypeError(f"config must be a GPTConfig, got {type(config).__name__}")
        expected = expected_shapes(config)
        missing = sorted(set(expected) - set(params))
        unknown = sorted(set(params) - set(expected))
        if missing or unknown:
            raise ValueError(f"params do not match the config: missing {missing[:5]}, unknown {unknown[:5]}")
        for name, shape in expected.items():
            value = params[name]
            if not is_quantized_weight(value):
                value = np.asarray(value)
                if not np.issubdtype(value.dtype, np.floating):
                    raise TypeError(f"params[{name!r}] must be a float array or a QTensor, got dtype {value.dtype}")
            if tuple(value.shape) != shape:
                raise ValueError(f"params[{name!r}] has shape {tuple(value.shape)}, the config needs {shape}")
        wte = params["wte"]
        if is_quantized_weight(params["wpe"]) or (is_quantized_weight(wte) and not isinstance(wte, QTensor)):
            raise TypeError("wpe must stay a float array (it is looked up, not multiplied), and a quantized wte must be a "
                            "QTensor (the tied head)")
        if isinstance(wte, QTensor) and wte.spec.axis != 1:
            raise ValueError("a quantized wte (the tied head) must be quantized along axis 1, the embedding features the "
                             f"logits sum over, got axis={wte.spec.axis} (Recipe(head=...) does this)")
        if activations not in ACTIVATIONS:
            raise ValueError(f"activations must be one of {list(ACTIVATIONS)}, got {activations!r}")
        #: The tied head as a weight [E, V] for the kernels (shares wte's bytes), or None for a float wte.
        self._head = wte.T if isinstance(wte, QTensor) else None
        if activations == "int8":
            for name, value in params.items():
                if isinstance(value, QTensor):
                    try:
                        int8_activation_matmul(value.T if name == "wte" else value)
                    except ValueError as err:
                        raise ValueError(f"activations='int8' cannot multiply params[{name!r}]: {err}") from None
        self.config = config
        self.activations = activations
        self.params = Params(config, {k: (v if is_quantized_weight(v) else np.asarray(v, dtype=np.float32))
                                      for k, v in params.items()})
        self.observer = None

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        """The one place where every linear layer runs: ``x @ w + b`` for weight ``name + ".weight"``."""
        weight = name + ".weight"
        if self.observer is not None:
            self.observer(weight, x)
        return linear(x, self.params[weight], self.params[name + ".bias"], self.activations)

    # -- the model ----------------------------------------------------------------------------
    def _check_ids(self, ids, past: int) -> np.ndarray:
        ids = np.asarray(ids)
        if not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"ids must be integer token ids, got dtype {ids.dtype}")
        if ids.ndim != 2 or ids.shape[1] == 0:
            raise ValueError(f"ids must have shape (batch, time) with time >= 1, got {ids.shape}")
        if ids.min() < 0 or ids.max() >= self.config.vocab_size:
            raise ValueError(f"token ids must lie in [0, {self.config.vocab_size - 1}], got {int(ids.min())}..{int(ids.max())}")
        if past + ids.shape[1] > self.config.n_ctx:
            raise ValueError(f"{past + ids.shape[1]} positions exceed the context of {self.config.n_ctx} tokens")
        return ids

    def _attention(self, x: np.ndarray, prefix: str, cache: dict | None) -> np.ndarray:
        H = self.config.n_head
        B, T, E = x.shape
        qkv = self._linear(x, prefix + "c_attn")                                     # [B, T, E] -> [B, T, 3E]
        qkv = qkv.reshape(B, T, 3, H, E // H).transpose(2, 0, 3, 1, 4)            # -> [3, B, H, T, D]
        q, k, v = qkv[0], qkv[1], qkv[2]
        if cache is not None:
            if "k" in cache:
                k = np.concatenate([cache["k"], k], axis=2)                          # [B, H, P + T, D]
                v = np.concatenate([cache["v"], v], axis=2)
            cache["k"], cache["v"] = k, v
        out = attention(q, k, v, causal_mask(T, k.shape[2]))                         # [B, H, T, D]
        out = out.transpose(0, 2, 1, 3).reshape(B, T, E)                             # -> [B, T, E]
        return self._linear(out, prefix + "c_proj")                                  # [B, T, E]

    def _mlp(self, x: np.ndarray, prefix: str) -> np.ndarray:
        h = gelu(self._linear(x, prefix + "c_fc"))                                   # [B, T, E] -> [B, T, 4E]
        return self._linear(h, prefix + "c_proj")                                    # [B, T, 4E] -> [B, T, E]

    def _block(self, x: np.ndarray, i: int, cache: dict | None) -> np.ndarray:
        p, eps = self.params, self.config.layer_norm_eps
        h = f"h.{i}."
        x = x + self._attention(layer_norm(x, p[h + "ln_1.weight"], p[h + "ln_1.bias"], eps), h + "attn.", cache)
        x = x + self._mlp(layer_norm(x, p[h + "ln_2.weight"], p[h + "ln_2.bias"], eps), h + "mlp.")
        return x                                                                     # [B, T, E]

    def forward(self, ids, cache: list | None = None) -> np.ndarray:
        """Logits ``(B, T, V)`` float32 for integer ``ids`` of shape ``(B, T)``.

        With ``cache`` (a list from ``new_cache()``), the ``ids`` continue the cached tokens: keys
        and values of earlier positions are reused and the new ones appended.
        """
        past = 0 if not cache or "k" not in cache[0] else cache[0]["k"].shape[2]
        ids = self._check_ids(ids, past)
        p = self.params
        T = ids.shape[1]
        x = self._embed(ids) + p["wpe"][past:past + T]                               # [B, T, E]
        for i in range(self.config.n_layer):
            x = self._block(x, i, None if cache is None else cache[i])
        x = layer_norm(x, p["ln_f.weight"], p["ln_f.bias"], self.config.layer_norm_eps)
        if self._head is not None:                                                   # quantized tied head
            return linear(x, self._head, None, self.activations)                     # [B, T, E] @ [E, V] -> [B, T, V]
        return (x @ p["wte"].T).astype(np.float32, copy=False)                       # [B, T, E] @ [E, V] -> [B, T, V]

    def _embed(self, ids: np.ndarray) -> np.ndarray:
        """Token embeddings ``[B, T, E]``: rows of ``wte``, dequantized on lookup when it is quantized."""
        wte = self.params["wte"]
        return wte.dequantize_rows(ids) if isinstance(wte, QTensor) else wte[ids]

    def new_cache(self) -> list[dict]:
        """An empty key/value cache: one dict per layer, filled by ``forward(ids, cache)``."""
        return [{} for _ in range(self.config.n_layer)]

    @property
    def n_params(self) -> int:
        """Number of weights (elements), quantized ones included."""
        return sum(int(np.prod(v.shape)) for v in self.params.values())
