"""Error metrics between an array ``x`` and its reconstruction ``x_hat``, and a sweep table.

=====================  =====================================================  ==============
metric                 formula                                                perfect value
=====================  =====================================================  ==============
``mse``                ``mean((x - x_hat)**2)``                               0
``rmse``               ``sqrt(mse)``                                          0
``max_abs_error``      ``max|x - x_hat|``                                     0
``sqnr_db``            ``10 * log10(sum(x**2) / sum((x - x_hat)**2))``        ``inf``
``cosine_similarity``  ``<x, x_hat> / (|x| |x_hat|)``                         1
=====================  =====================================================  ==============

All are computed in float64. SQNR grows by about 6.02 dB per bit for uniform
quantization of a well-spread signal (each bit halves the step). Tests:
``tests/eval/test_errors.py``.
"""
from __future__ import annotations

import numpy as np

from ..mixed import is_quantized_weight
from ..quant._checks import check_float_array
from ..quant.spec import QuantSpec
from ..tensor import QTensor, quantize
from .memory import describe_storage


def _pair(x, x_hat) -> tuple[np.ndarray, np.ndarray]:
    x = check_float_array(x, "x").astype(np.float64)
    x_hat = check_float_array(x_hat, "x_hat").astype(np.float64)
    if x.shape != x_hat.shape:
        raise ValueError(f"x and x_hat must have the same shape, got {x.shape} and {x_hat.shape}")
    return x, x_hat


def mse(x, x_hat) -> float:
    """Mean squared error: ``mean((x - x_hat)**2)``.

    Examples
    --------
    >>> mse(np.array([1.0, 2.0]), np.array([1.0, 2.5]))
    0.125
    """
    x, x_hat = _pair(x, x_hat)
    return float(np.mean((x - x_hat) ** 2))


def rmse(x, x_hat) -> float:
    """Root mean squared error: ``sqrt(mean((x - x_hat)**2))``."""
    return float(np.sqrt(mse(x, x_hat)))


def max_abs_error(x, x_hat) -> float:
    """Largest absolute error: ``max|x - x_hat|``."""
    x, x_hat = _pair(x, x_hat)
    return float(np.max(np.abs(x - x_hat)))


def sqnr_db(x, x_hat) -> float:
    """Signal-to-quantization-noise ratio in dB: ``10 log10(sum x^2 / sum (x - x_hat)^2)``.

    ``inf`` when the reconstruction is exact; ``-inf`` when ``x`` is all zeros but
    ``x_hat`` is not.

    Examples
    --------
    >>> round(sqnr_db(np.array([1.0, -1.0]), np.array([1.1, -1.1])), 2)
    20.0
    """
    x, x_hat = _pair(x, x_hat)
    signal = float(np.sum(x * x))
    noise = float(np.sum((x - x_hat) ** 2))
    if noise == 0.0:
        return float("inf")
    if signal == 0.0:
        return float("-inf")
    return float(10.0 * np.log10(signal / noise))


def cosine_similarity(x, x_hat) -> float:
    """Cosine of the angle between ``x`` and ``x_hat`` flattened: ``<x, x_hat> / (|x| |x_hat|)``.

    1.0 when both are all zeros, 0.0 when exactly one is.
    """
    x, x_hat = _pair(x, x_hat)
    nx, ny = float(np.linalg.norm(x)), float(np.linalg.norm(x_hat))
    if nx == 0.0 or ny == 0.0:
        return 1.0 if nx == ny else 0.0
    return float(np.clip(np.vdot(x, x_hat) / (nx * ny), -1.0, 1.0))


METRICS = {
    "mse": mse,
    "rmse": rmse,
    "max_abs_error": max_abs_error,
    "sqnr_db": sqnr_db,
    "cosine_similarity": cosine_similarity,
}


def error_report(x, x_hat) -> dict[str, float]:
    """Every metric of ``METRICS`` in one dict."""
    return {name: fn(x, x_hat) for name, fn in METRICS.items()}


#: ``format_table`` columns and formats of ``error_table`` records (``miniquant table``).
ERROR_TABLE_COLUMNS = ["bits", "scheme", "granularity", "group_size", "bits_per_weight", "nbytes", "sqnr_db", "rmse",
                       "max_abs_error", "cosine_similarity"]
ERROR_TABLE_FORMATS = {"cosine_similarity": ".6f"}
#: ``format_table`` columns and formats of ``model_weight_errors`` records (``miniquant quantize``).
WEIGHT_ERROR_COLUMNS = ["tensor", "storage", "bits_per_weight", "sqnr_db", "rmse", "max_abs_error"]
WEIGHT_ERROR_FORMATS = {"bits_per_weight": ".3f", "sqnr_db": ".2f", "rmse": ".3e", "max_abs_error": ".3e"}


def error_table(
    x,
    *,
    bits=(8, 6, 5, 4, 3, 2),
    schemes=("symmetric", "asymmetric"),
    granularities=("tensor", "channel", "group"),
    group_size: int = 32,
    **options,
) -> list[dict]:
    """Quantize ``x`` with every combination and measure each: one record per row.

    Parameters
    ----------
    x : ndarray of float, e.g. a weight ``(K, N)``
    bits, schemes, granularities : sequences
        The grid to sweep.
    group_size : int
        Group size for ``"group"``; must divide ``x.shape[axis]``.
    **options
        Passed to every ``QuantSpec`` (``axis``, ``clip``, ``rounding``, ``scale_dtype``, ...).

    Returns
    -------
    list of dict
        Keys: ``bits, scheme, granularity, group_size, bits_per_weight, nbytes`` and every
        metric of ``METRICS``. ``format_table`` prints them.

    Examples
    --------
    >>> w = np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32)
    >>> rows = error_table(w, bits=(8, 4), schemes=("symmetric",), granularities=("channel",))
    >>> [(r["bits"], round(r["sqnr_db"])) for r in rows]
    [(8, 43), (4, 18)]
    """
    x = check_float_array(x, "x")
    records = []
    for b in bits:
        for scheme in schemes:
            for granularity in granularities:
                gs = group_size if granularity == "group" else None
                spec = QuantSpec(bits=b, scheme=scheme, granularity=granularity, group_size=gs, **options)
                qt = quantize(x, spec)
                record = {
                    "bits": b,
                    "scheme": scheme,
                    "granularity": granularity,
                    "group_size": gs,
                    "bits_per_weight": qt.bits_per_weight,
                    "nbytes": qt.nbytes,
                }
                record.update(error_report(x, qt.dequantize()))
                records.append(record)
    return records


def model_weight_errors(reference: dict, params: dict) -> list[dict]:
    """Per-tensor weight error of a quantized model: one record per ``QTensor`` in ``params``.

    ``reference`` holds the float weights under the same names. Each record has ``tensor``,
    ``storage`` (the ledger's description), ``bits_per_weight``, every metric of
    ``error_report`` between the float weight and its reconstruction, and ``signal_energy``
    and ``noise_energy`` (sums of ``w**2`` and ``(w - w_hat)**2``) for ``pooled_sqnr_from_errors``.
    """
    rows = []
    for name, value in params.items():
        if is_quantized_weight(value):
            if name not in reference:
                raise KeyError(f"reference has no float weight named {name!r}")
            w = np.asarray(reference[name], dtype=np.float32)
            row = {"tensor": name, "storage": describe_storage(value), "bits_per_weight": value.bits_per_weight}
            row.update(error_report(w, value.dequantize()))
            row["signal_energy"] = float(np.sum(w.astype(np.float64) ** 2))
            row["noise_energy"] = row["mse"] * w.size
            rows.append(row)
    return rows


def pooled_sqnr_from_errors(errors: list[dict]) -> float:
    """SQNR of all matrices of ``model_weight_errors`` together, in dB: total signal over total noise.

    ``inf`` if there are none (nothing quantized) or every reconstruction is exact.
    """
    noise = sum(e["noise_energy"] for e in errors)
    return float("inf") if noise == 0 else float(10 * np.log10(sum(e["signal_energy"] for e in errors) / noise))


def pooled_sqnr_db(reference: dict, params: dict) -> float:
    """SQNR of all quantized matrices of ``params`` together: total signal power over total noise power, in dB.

    ``inf`` if nothing is quantized (or every reconstruction is exact). With the per-tensor
    errors at hand, ``pooled_sqnr_from_errors`` gives the same without dequantizing again.
    """
    return pooled_sqnr_from_errors(model_weight_errors(reference, params))


def format_table(records: list[dict], columns: list[str] | None = None, formats: dict[str, str] | None = None) -> str:
    """A plain-text table of ``records`` (floats to 4 significant digits unless ``formats`` says).

    ``formats`` maps a column to a format spec, e.g. ``{"cosine_similarity": ".6f"}``.

    Examples
    --------
    >>> print(format_table([{"bits": 4, "mse": 0.00123456}]))
    bits  mse
    ----  --------
       4  0.001235
    """
    if not records:
        return "(no records)"
    columns = list(records[0]) if columns is None else columns
    formats = formats or {}

    def cell(v, column):
        if v is None:
            return "-"
        if isinstance(v, (float, np.floating)):
            return format(v, formats.get(column, ".4g"))
        return str(v)

    rows = [[cell(r.get(c), c) for c in columns] for r in records]
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r.get(c), (int, float, np.number)) for r in records) for c in columns]
    fmt = lambda vals: "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(vals, widths, numeric))  # noqa: E731
    lines = [fmt(columns).rstrip(), "  ".join("-" * w for w in widths)]
    lines += [fmt(row).rstrip() for row in rows]
    return "\n".join(lines)
