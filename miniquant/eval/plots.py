"""Plots of tour records: quality against bits per weight (the knee), and memory.

Each function takes the records of ``tour.run_tour`` and a path, draws with matplotlib's
non-interactive backend and returns the path. Tests: ``tests/eval/test_tour.py``.
"""
from __future__ import annotations

import numpy as np

from ..files import atomic_write


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


#: Colour per granularity, line style per scheme, marker per clipping (x) and int8 activations
#: (an open triangle): every kind of the tour stays apart.
_GRANULARITY_COLOURS = {"tensor": "tab:blue", "channel": "tab:orange", "g32": "tab:green", "g64": "tab:olive",
                        "g128": "tab:purple"}


#: Markers of the element formats (``miniquant.formats``), drawn as single points of their granularity's colour.
_FORMAT_MARKERS = {"nf4": "*", "fp4_e2m1": "P", "fp6_e2m3": "p", "fp6_e3m2": "p", "fp8_e4m3": "X", "fp8_e5m2": "X",
                   "ternary": "h", "mxfp4": "d", "mxfp6": "d", "mxfp6_e3m2": "d", "mxfp8": "d", "mxint8": "d"}


def _save(fig, path) -> None:
    """Save ``fig`` as PNG at exactly ``path``, atomically (``miniquant.files``), and close it."""
    try:
        with atomic_write(path) as fh:
            fig.savefig(fh, dpi=110, format="png")
    finally:
        _pyplot().close(fig)


def recipe_kind(record: dict) -> str:
    """The legend entry of a tour record: what stays the same across bit-widths, from its structured fields.

    An integer recipe's kind is its scheme, granularity, clipping, method and activations (``"asym g32"``,
    ``"sym channel mse"``, ``"sym g32 gptq(act_order=True)"``, ``"sym g128 +int8 act"``): one line across
    bit-widths. An element format is a kind of its own (its recipe label, ``"nf4 g64 dq"``): one point.
    """
    if record.get("format") not in (None, "int"):
        return record["recipe"]
    parts = ["sym" if record["scheme"] == "symmetric" else "asym", record["granularity"]]
    if record.get("clip") not in (None, "minmax"):
        parts.append(record["clip"])
    if record.get("method") not in (None, "rtn", "float"):
        parts.append(record["method"] + (f"({record['options']})" if record.get("options") else ""))
    if record.get("activations") == "int8":
        parts.append("+int8 act")
    return " ".join(parts)


def _style(record: dict) -> dict:
    """Line style of a record's kind: colour = granularity, dashed = asymmetric, marker = clipping, method or format."""
    colour = _GRANULARITY_COLOURS.get(record.get("granularity"), "tab:gray")
    marker = "x" if record.get("clip") in ("mse", "percentile") else "o"
    method = record.get("method")
    if record.get("format") in _FORMAT_MARKERS:        # element formats: a marker of their own, one point each
        marker = _FORMAT_MARKERS[record["format"]]
    elif method == "gptq":                               # the methods: squares for GPTQ (diamonds with act-order)
        marker = "D" if "act_order=True" in record.get("options", "") else "s"
    elif method == "hqq":                                # and downward triangles for HQQ
        marker = "v"
    style = {"color": colour, "linestyle": "--" if record.get("scheme") == "asymmetric" else "-", "marker": marker,
             "markersize": 5}
    if record.get("activations") == "int8":  # the same weights as their float-activation twin: drawn on top of it
        style.update(marker="^", markersize=9, markerfacecolor="none", markeredgewidth=1.5)
    if record.get("double_quant"):           # two-level scales: the single-level twin's marker, hollow and larger
        style.update(markersize=9, markerfacecolor="none", markeredgewidth=1.5)
    return style


def plot_knee(records: list[dict], path) -> str:
    """Three panels against bits per weight: KL divergence, bits per byte, arithmetic accuracy.

    One line per recipe kind across bit-widths (``recipe_kind``, from the records' structured fields):
    colour = granularity, dashed = asymmetric, crosses = MSE (or percentile) clipping, open triangles =
    int8 activations, squares = GPTQ (diamonds with act-order), downward triangles = HQQ, a marker
    of its own for each element format (hollow with double quantization). The legend sits below the panels.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.2))
    base = records[0]
    groups = {}
    for r in records[1:]:
        groups.setdefault(recipe_kind(r), []).append(r)
    panels = (("kl_mean", "KL divergence from float (nats, log scale)", True),
              ("bits_per_byte", "bits per byte on held-out docstrings", False),
              ("arith_accuracy", "held-out arithmetic, exact match", False))
    for ax, (key, title, log) in zip(axes, panels):
        for kind, rows in groups.items():
            rows = sorted(rows, key=lambda r: r["matrix_bits_per_weight"])
            ax.plot([r["matrix_bits_per_weight"] for r in rows], [max(r[key], 1e-6) if log else r[key] for r in rows],
                    label=kind, lw=1.3, **_style(rows[0]))
        if not log:
            ax.axhline(base[key], color="k", ls=":", lw=1.2, label="float32")
        ax.set_title(title)
        ax.set_xlabel("bits per weight of the quantized matrices (codes + scales)")
        if log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 9), fontsize=8, frameon=False)
    fig.suptitle("The knee: quality of the shipped model against the bits its weight matrices take")
    fig.tight_layout(rect=(0, 0.07 + 0.035 * ((len(labels) - 1) // 9), 1, 1))
    _save(fig, path)
    return str(path)


def plot_memory(records: list[dict], path) -> str:
    """Horizontal bars: model size in KB for every recipe, float32 first."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(records) + 1.2))
    y = np.arange(len(records))
    sizes = [r["model_bytes"] / 1024 for r in records]
    ax.barh(y, sizes, color=["0.5"] + ["tab:blue"] * (len(records) - 1))
    for yi, s, r in zip(y, sizes, records):
        ax.text(s, yi, f" {s:,.0f} KB ({r['bits_per_weight']:.2f} b/w)", va="center", fontsize=8)
    ax.set_yticks(y, [r["recipe"] for r in records])
    ax.invert_yaxis()
    ax.set_xlabel("model size (KB): codes + scales + zero points + what stays in float")
    ax.set_xlim(0, max(sizes) * 1.35)
    ax.set_title("Memory of the shipped model per recipe")
    fig.tight_layout()
    _save(fig, path)
    return str(path)
