"""Checks every method shares (kept in one place, so that each method's own check calls the same one)."""
from __future__ import annotations

from ..quant import QuantSpec


def require_integer_grid(method: str, spec: QuantSpec) -> None:
    """``ValueError`` unless ``spec`` is on the integer grid with single-level scales: the careful methods
    reconstruct ``(q - z) * s`` with the scales they chose."""
    if spec.format != "int":
        raise ValueError(f"method {method!r} chooses codes on the integer grid (format='int'); format "
                         f"{spec.format!r} is quantized round-to-nearest (method='rtn')")
    if spec.double_quant:
        raise ValueError(f"method {method!r} chooses its own scales, which double quantization would change after "
                         "the codes are chosen; use double_quant=True with method='rtn'")
