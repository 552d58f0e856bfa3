"""A ``GPT`` written as a GGUF v3 file that llama.cpp runs (architecture ``gpt2``, tensors in any block type),
and GGUF files of that architecture read back into a ``GPT`` (``load_gguf``).

The container (header, metadata, alignment) is written by the ``gguf`` package's ``GGUFWriter``, the
reference for the format; every tensor's bytes are miniquant's (``miniquant.formats.gguf``).

Names and layouts, ours -> llama.cpp's (``blk.N.`` per layer; ``ne[0]``, the contiguous axis, is the
one a matrix-vector product sums over)::

    wte               (V, E)    -> token_embd.weight      as is (rows of E: looked up, and the tied output)
    wpe               (T, E)    -> position_embd.weight   as is, never quantized (llama-quantize leaves it)
    h.N.ln_1          (E,)      -> blk.N.attn_norm        .weight / .bias, float32
    h.N.attn.c_attn   (E, 3E)   -> blk.N.attn_qkv         transposed to (3E, E): rows of the K = E inputs
    h.N.attn.c_proj   (E, E)    -> blk.N.attn_output      transposed
    h.N.ln_2          (E,)      -> blk.N.ffn_norm
    h.N.mlp.c_fc      (E, 4E)   -> blk.N.ffn_up           transposed to (4E, E)
    h.N.mlp.c_proj    (4E, E)   -> blk.N.ffn_down         transposed to (E, 4E)
    ln_f              (E,)      -> output_norm
    (no output.weight: the head is tied to token_embd, which llama.cpp then uses for the logits)

Our weights are ``(K, N)`` for ``y = x @ w``; llama.cpp's are ``(N, K)`` rows for ``y = W x``, so a
matrix is transposed before its rows of ``K`` are cut into blocks -- the same blocks as miniquant's
``axis=0`` groups. ``type_name`` is one of llama-quantize's file types (``Q4_0``, ``Q8_0``, ``Q4_K_M``,
...), and each tensor gets the type llama-quantize would give it (``gguf_mixes.py``: more bits for some
layers of ``attn_qkv`` and ``ffn_down`` and for the tied head, and its fallbacks where a row is not a
multiple of 256 -- the shipped model's K = 128 rows: Q2_K, Q3_K -> Q4_0, Q4_K -> Q5_0, Q5_K -> Q5_1,
Q6_K -> Q8_0); with
``pure=True`` every matrix gets the plain type (with the fallbacks). The choice per tensor is returned.

The vocabulary is llama.cpp's ``gpt2`` tokenizer: for the shipped byte model, the 256 byte symbols of
GPT-2's byte-to-unicode table and one merge (llama.cpp refuses a BPE vocabulary without merges; the merge
joins two symbols into a string that is not a token, so it never applies); for a Hugging Face GPT-2, pass
its ``BPETokenizer``.

``load_gguf`` reads with ``miniquant.formats.gguf.read_gguf`` (every header field checked against the
file), requires the ``gpt2`` architecture and exactly the tensors above (an ``output.weight`` only if it
equals ``token_embd``, since the GPT's head is tied), dequantizes each with miniquant's block code and
returns a float ``GPT``. Tests: ``tests/nn/test_gguf_io.py``.
"""
from __future__ import annotations

import numpy as np

from ..files import atomic_path, check_output_path
from ..formats import gguf as blocks
from ..mixed import is_quantized_weight
from .bpe import BPETokenizer, byte_to_unicode
from .config import GPTConfig
from .gguf_mixes import FILE_TYPES, file_type, tensor_types
from .gpt import GPT, expected_shapes

def tensor_layout(config) -> list[tuple[str, str, bool]]:
    """``(our name, llama.cpp's name, transpose)`` for every parameter, in llama.cpp's order."""
    layout = [("wte", "token_embd.weight", False), ("wpe", "position_embd.weight", False)]
    for i in range(config.n_layer):
        h, b = f"h.{i}.", f"blk.{i}."
        for ours, theirs, matrix in (("ln_1", "attn_norm", False), ("attn.c_attn", "attn_qkv", True),
                                     ("attn.c_proj", "attn_output", True), ("ln_2", "ffn_norm", False),
                                     ("mlp.c_fc", "ffn_up", True), ("mlp.c_proj", "ffn_down", True)):
            layout.append((h + ours + ".weight", b + theirs + ".weight", matrix))
            layout.append((h + ours + ".bias", b + theirs + ".bias", False))
    layout += [("ln_f.weight", "output_norm.weight", False), ("ln_f.bias", "output_norm.bias", False)]
    return layout


def byte_vocabulary() -> tuple[list[str], list[str]]:
    """The shipped model's 256 byte tokens as GPT-2 byte symbols, and the one merge that never applies."""
    symbols = byte_to_unicode()
    tokens = [symbols[b] for b in range(256)]
    return tokens, [f"{tokens[ord('q')]} {tokens[ord('z')]}"]     # "qz" is not a token: the merge is inert


def export_gguf(model: GPT, path, type_name: str = "F32", *, pure: bool = False, tokenizer: BPETokenizer | None = None,
                name: str = "miniquant") -> dict[str, str]:
    """Write ``model`` (float weights) as a GGUF file at ``path``; returns each tensor's type, by llama.cpp name.

    ``type_name``: a llama-quantize file type (``gguf_mixes.FILE_TYPES``: ``"F32"``, ``"F16"``, ``"Q8_0"``,
    ``"Q4_0"`` ... ``"Q4_K_M"``, ``"Q6_K"``; ``"Q4_K"`` means ``"Q4_K_M"`` as it does there), each tensor in the type
    llama-quantize would choose; ``pure=True`` puts every matrix in the plain type. Written atomically.
    """
    import gguf

    if not isinstance(model, GPT):
        raise TypeError(f"model must be a GPT, got {type(model).__name__}")
    ftype = file_type(type_name)
    quantized = sorted(k for k, v in model.params.items() if is_quantized_weight(v))
    if quantized:
        raise ValueError(f"export_gguf writes a float model in GGUF's own types; {quantized[:3]} are already quantized "
                         "by miniquant (export the float model with type_name=...)")
    config = model.config
    path = check_output_path(path)
    if tokenizer is None:
        if config.vocab_size != 256:
            raise ValueError(f"a model with a vocabulary of {config.vocab_size} needs its BPETokenizer (tokenizer=...); "
                             "only the 256-symbol byte vocabulary is built in")
        tokens, merges = byte_vocabulary()
    else:
        tokens, merges = _bpe_vocabulary(tokenizer, config.vocab_size)

    with atomic_path(path) as tmp:
        writer = gguf.GGUFWriter(tmp, "gpt2")
        writer.add_name(name)
        writer.add_context_length(config.n_ctx)
        writer.add_embedding_length(config.n_embd)
        writer.add_feed_forward_length(4 * config.n_embd)
        writer.add_block_count(config.n_layer)
        writer.add_head_count(config.n_head)
        writer.add_layer_norm_eps(float(config.layer_norm_eps))
        writer.add_file_type(gguf.LlamaFileType[FILE_TYPES[ftype][1]])
        writer.add_tokenizer_model("gpt2")
        writer.add_token_list(tokens)
        writer.add_token_types([gguf.TokenType.NORMAL] * len(tokens))
        writer.add_token_merges(merges)
        layout = tensor_layout(config)
        shapes = {theirs: np.shape(model.params[ours])[::-1] if transpose else np.shape(model.params[ours])
                  for ours, theirs, transpose in layout}
        chosen = tensor_types(shapes, ftype, pure=pure)
        for ours, theirs, transpose in layout:
            value = np.asarray(model.params[ours], dtype=np.float32)
            value = np.ascontiguousarray(value.T if transpose else value)
            t = chosen[theirs]
            if t == "F32":
                writer.add_tensor(theirs, value)
            elif t == "F16":
                writer.add_tensor(theirs, value.astype(np.float16))
            else:
                writer.add_tensor(theirs, blocks.quantize(value, t), raw_dtype=gguf.GGMLQuantizationType[t])
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    return chosen


def _bpe_vocabulary(tokenizer: BPETokenizer, vocab_size: int) -> tuple[list[str], list[str]]:
    """Tokens in id order and merges as ``"a b"`` strings from a GPT-2 ``BPETokenizer``."""
    if not isinstance(tokenizer, BPETokenizer):
        raise TypeError(f"tokenizer must be a BPETokenizer, got {type(tokenizer).__name__}")
    ids = sorted(tokenizer.decoder)
    if ids != list(range(vocab_size)):
        raise ValueError(f"the tokenizer's ids must be exactly 0..{vocab_size - 1} (the model's vocabulary), got "
                         f"{len(ids)} ids from {ids[0]} to {ids[-1]}")
    merges = [f"{a} {b}" for (a, b), _ in sorted(tokenizer.ranks.items(), key=lambda item: item[1])]
    return [tokenizer.decoder[i] for i in ids], merges


def load_gguf(path) -> GPT:
    """A float ``GPT`` from a GGUF file of architecture ``gpt2`` (module docstring); ``ValueError`` naming what is wrong."""
    from ..formats.gguf.container import read_gguf

    return gpt_from_gguf(read_gguf(path), path)


def gpt_from_gguf(f, path) -> GPT:
    """``load_gguf`` for a file already parsed by ``read_gguf`` (``path`` names it in messages)."""
    from ..formats.gguf.container import tensor_values

    meta = f.metadata
    arch = meta.get("general.architecture")
    if arch != "gpt2":
        raise ValueError(f"{path}: general.architecture is {arch!r}; miniquant's GPT reads 'gpt2' files")
    sizes = {}
    for ours, key in (("n_ctx", "gpt2.context_length"), ("n_embd", "gpt2.embedding_length"),
                      ("n_layer", "gpt2.block_count"), ("n_head", "gpt2.attention.head_count")):
        value = meta.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{path}: metadata {key!r} must be a positive integer, got {value!r}")
        sizes[ours] = value
    if meta.get("gpt2.feed_forward_length", 4 * sizes["n_embd"]) != 4 * sizes["n_embd"]:
        raise ValueError(f"{path}: gpt2.feed_forward_length is {meta['gpt2.feed_forward_length']!r}; the GPT's MLP is "
                         f"4 * n_embd = {4 * sizes['n_embd']}")
    eps = meta.get("gpt2.attention.layer_norm_epsilon", 1e-5)
    if "token_embd.weight" not in f.tensors:
        raise ValueError(f"{path}: there is no tensor 'token_embd.weight'")
    config = GPTConfig(vocab_size=f.tensors["token_embd.weight"].shape[0], layer_norm_eps=float(eps), **sizes)
    layout = tensor_layout(config)
    wanted = {theirs for _, theirs, _ in layout}
    extra = sorted(set(f.tensors) - wanted - {"output.weight"})
    missing = sorted(wanted - set(f.tensors))
    if extra or missing:
        raise ValueError(f"{path}: the tensors do not make a gpt2 model of {config}: missing {missing[:5]}, unknown {extra[:5]}")
    shapes = expected_shapes(config)
    params = {}
    for ours, theirs, transpose in layout:
        tensor = f.tensors[theirs]
        want = shapes[ours][::-1] if transpose else shapes[ours]
        if tensor.shape != tuple(want):
            raise ValueError(f"{path}: tensor {theirs!r} has shape {tensor.shape}, the config needs {tuple(want)}")
        values = tensor_values(tensor)
        params[ours] = np.ascontiguousarray(values.T) if transpose else values
    if "output.weight" in f.tensors and not np.array_equal(tensor_values(f.tensors["output.weight"]), params["wte"]):
        raise ValueError(f"{path}: output.weight differs from token_embd.weight; miniquant's GPT ties its head to the "
                         "embeddings")
    return GPT(config, params)
