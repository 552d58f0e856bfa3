"""The kit judges other people's quantizers by their own declared conventions (issue 11, defect 11).

gguf's NumPy Q8_0 and Q4_0 (bit-exact with llama.cpp) wrapped as ``(codes, scale, zero_point)``:
they pass every property once their conventions are declared (an all-zero block stores ``d = 0``;
``d`` is rounded to nearest float16 *after* the codes were computed; Q4_0 rounds ``trunc(v + 0.5)``
and stores a signed ``d = max / -8``), they fail without the declaration, and a one-line mutation
of each is caught. ``docs/teaching.md`` shows the same.
"""
import warnings

import numpy as np
import pytest

from miniquant.testing import check_quantizer

gguf = pytest.importorskip("gguf")

Q8_0 = dict(bits=8, scheme="symmetric", granularity="group", group_size=32, rounding="half_away",
            zero_block="zero_scale", scale_rounding="nearest", max_magnitude=1e6, min_block_magnitude=127 * 2.0**-126)
Q4_0 = dict(bits=4, scheme="symmetric", full_range=True, granularity="group", group_size=32, rounding="half_up",
            zero_block="zero_scale", scale_rounding="nearest", signed_scale=True, max_magnitude=1e5,
            min_block_magnitude=8 * 2.0**-126)


def gguf_quantizer(qtype, blocks_of=None):
    """gguf's quantizer for a weight (K, N) in blocks of 32 along K, as (codes, scale, 0); ``blocks_of`` replaces
    ``quantize_blocks`` (for mutations)."""
    kind = {gguf.GGMLQuantizationType.Q8_0: gguf.quants.Q8_0, gguf.GGMLQuantizationType.Q4_0: gguf.quants.Q4_0}[qtype]

    def quantize(x):
        k, n = x.shape
        rows = np.ascontiguousarray(x.T, dtype=np.float32).reshape(-1, 32)          # [N * K/32, 32] blocks
        blob = (blocks_of or kind.quantize_blocks)(rows)
        d = blob[:, :2].copy().view(np.float16)                                    # [blocks, 1]
        if qtype == gguf.GGMLQuantizationType.Q8_0:
            codes = blob[:, 2:].copy().view(np.int8).astype(np.int16)
        else:
            packed = blob[:, 2:]                                                   # low nibbles: 0..15, high: 16..31
            codes = np.concatenate([packed & 15, packed >> 4], axis=1).astype(np.int16) - 8
        codes = codes.reshape(n, k).T
        scale = np.repeat(d.reshape(n, k // 32).T, 32, axis=0)                     # [K, N] float16
        return codes, scale, 0

    def dequantize(codes, scale, zero_point):
        return (codes.astype(np.float32) - zero_point) * scale.astype(np.float32)

    return quantize, dequantize


def test_the_wrapper_reconstructs_what_gguf_dequantizes(rng):
    w = rng.standard_normal((64, 3)).astype(np.float32)
    for qtype in (gguf.GGMLQuantizationType.Q8_0, gguf.GGMLQuantizationType.Q4_0):
        q, d = gguf_quantizer(qtype)
        theirs = gguf.quants.dequantize(gguf.quants.quantize(np.ascontiguousarray(w.T), qtype), qtype).reshape(3, 64).T
        np.testing.assert_array_equal(d(*q(w)), theirs)


@pytest.mark.parametrize("qtype, declared", [(gguf.GGMLQuantizationType.Q8_0, Q8_0), (gguf.GGMLQuantizationType.Q4_0, Q4_0)])
def test_gguf_passes_with_its_declared_conventions(qtype, declared):
    check_quantizer(*gguf_quantizer(qtype), **declared, max_examples=200, seed=0)


@pytest.mark.parametrize("qtype", [gguf.GGMLQuantizationType.Q8_0, gguf.GGMLQuantizationType.Q4_0])
def test_the_kit_finds_that_gguf_overflows_on_float32_subnormal_scales(qtype):
    # llama.cpp does the same in C (id = d ? 1.0f/d : 0.0f): a block with max|x| below about
    # 127 / 3.4e38 has a subnormal d whose reciprocal is inf, and inf codes are cast to int8.
    declared = dict(Q8_0 if qtype == gguf.GGMLQuantizationType.Q8_0 else Q4_0, min_block_magnitude=0.0)
    with pytest.raises(AssertionError, match="overflow encountered"):
        check_quantizer(*gguf_quantizer(qtype), **declared, kinds=("subnormal_scales",), max_examples=100, seed=0)


def test_without_the_declaration_an_all_zero_block_fails():
    undeclared = {k: v for k, v in Q8_0.items() if k not in ("zero_block", "scale_rounding")}
    with pytest.raises(AssertionError, match="scale_finite_positive"):
        check_quantizer(*gguf_quantizer(gguf.GGMLQuantizationType.Q8_0), **undeclared, kinds=("zeros",), max_examples=5, seed=0)


def test_a_one_line_mutation_of_q8_0_is_caught():
    def mutated(blocks):
        d = abs(blocks).max(axis=1, keepdims=True) / 128          # was / 127
        with np.errstate(divide="ignore"):
            inv = np.where(d == 0, 0, 1 / d)
        qs = gguf.quants.np_roundf(blocks * inv)
        return np.concatenate([d.astype(np.float16).view(np.uint8), qs.astype(np.int8).view(np.uint8)], axis=1)

    with pytest.raises(AssertionError, match="range_end_exact|codes_in_range|error_within_half_step"):
        check_quantizer(*gguf_quantizer(gguf.GGMLQuantizationType.Q8_0, mutated), **Q8_0, max_examples=200, seed=0)


def test_a_one_line_mutation_of_q4_0_is_caught():
    def mutated(blocks):
        n = blocks.shape[0]
        imax = abs(blocks).argmax(axis=-1, keepdims=True)
        d = np.take_along_axis(blocks, imax, axis=-1) / -8
        with np.errstate(divide="ignore"):
            inv = np.where(d == 0, 0, 1 / d)
        qs = np.trunc((blocks * inv) + np.float32(8.0), dtype=np.float32).astype(np.uint8).clip(0, 15)  # was 8.5
        qs = qs.reshape((n, 2, 16))
        return np.concatenate([d.astype(np.float16).view(np.uint8), qs[:, 0] | (qs[:, 1] << np.uint8(4))], axis=-1)

    with pytest.raises(AssertionError, match="error_within_half_step|range_end_exact|ties_follow"):
        check_quantizer(*gguf_quantizer(gguf.GGMLQuantizationType.Q4_0, mutated), **Q4_0, max_examples=200, seed=0)


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning")
def test_pytorch_per_channel_quantizer_passes_with_its_conventions():
    torch = pytest.importorskip("torch")
    from torch.ao.quantization.observer import PerChannelMinMaxObserver

    def quantize(x):
        with warnings.catch_warnings():  # torch 2.13 deprecates its quantized tensors (it still computes them)
            warnings.simplefilter("ignore")
            observer = PerChannelMinMaxObserver(ch_axis=1, dtype=torch.quint8, qscheme=torch.per_channel_affine)
            t = torch.from_numpy(np.ascontiguousarray(x))
            observer(t)
            scale, zp = observer.calculate_qparams()
            codes = torch.quantize_per_channel(t, scale.double(), zp, axis=1, dtype=torch.quint8).int_repr().numpy()
        return codes, scale.numpy()[None, :], zp.numpy()[None, :]

    def dequantize(codes, scale, zero_point):
        return (codes.astype(np.float32) - zero_point) * scale

    # PyTorch computes codes in float32 from a scale it then hands back as float32 (clamped below at eps):
    # declared as scale_rounding="nearest". Every kind of array, magnitudes up to 1e4.
    check_quantizer(quantize, dequantize, bits=8, scheme="asymmetric", granularity="channel", rounding="half_even",
                    scale_rounding="nearest", max_magnitude=1e4, max_examples=200, seed=0)
