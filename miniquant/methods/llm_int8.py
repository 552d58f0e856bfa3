"""LLM.int8() (Dettmers et al., 2022): the outlier input features in float, the rest int8 (W8A8).

The decomposition, for a layer ``y = x w`` whose inputs have a few features far above the rest::

    x w  =  x[:, O] @ w[O, :]  +  x[:, R] @ w[R, :]       O = {k : |x_k| > threshold}, R the rest
            float x float          int8 x int8 (per-token x per-output-channel scales)

miniquant chooses ``O`` once from calibration (``InputStats.abs_max > threshold``), so that the
rows of ``O`` can be stored in float and counted: the weight is a ``miniquant.mixed.MixedInt8Tensor``
(made by ``mixed.split_outliers``) and runs through ``kernels.mixed_int8_matmul``. The paper and
bitsandbytes find ``O`` per batch at run time instead. Tests: ``tests/test_mixed.py``.
"""
from __future__ import annotations

import math
import numbers

from ..mixed import MixedInt8Tensor, split_outliers
from ..quant import QuantSpec
from ._checks import require_integer_grid

#: The option of LLM.int8() and its default (the paper's threshold on ``|x|``).
LLM_INT8_OPTIONS = {"threshold": 6.0}


def check_llm_int8_options(spec: QuantSpec, *, threshold=6.0) -> None:
    """LLM.int8() keeps int8 weights with one scale per output channel, and a threshold >= 0."""
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or math.isnan(threshold) or threshold < 0:
        raise ValueError(f"threshold must be a number >= 0 (the |x| above which an input feature stays float; "
                         f"inf for none), got {threshold!r}")
    require_integer_grid("llm_int8", spec)
    if spec.bits != 8 or spec.scheme != "symmetric" or spec.granularity == "group":
        raise ValueError("LLM.int8() multiplies the non-outlier features W8A8: it needs an 8-bit symmetric spec per "
                         f"channel or per tensor, got bits={spec.bits}, scheme={spec.scheme!r}, "
                         f"granularity={spec.granularity!r}")


def llm_int8_quantize(w, abs_max, spec: QuantSpec, *, threshold: float = 6.0) -> MixedInt8Tensor:
    """The ``MixedInt8Tensor`` of ``w`` ``(K, N)``: features with calibration ``abs_max > threshold`` in float."""
    check_llm_int8_options(spec, threshold=threshold)
    return split_outliers(w, abs_max, threshold, spec)
