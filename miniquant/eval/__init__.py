"""Evaluation: error metrics, the memory ledger, model quality against the float model, the tour, sensitivity.

Reading order: ``errors`` (metrics of one array), ``memory`` (the ledger), ``quality`` (a model
against the float model), ``compare`` (which models to compare, side by side), ``tour`` (many
recipes), ``sensitivity`` (one matrix at a time), ``speed`` (kernels against NumPy; its
functions stay in ``miniquant.eval.speed``), ``plots``, ``samples``.
"""
from .compare import Comparison, compare_models, models_to_compare
from .errors import (
    METRICS, cosine_similarity, error_report, error_table, format_table, max_abs_error, model_weight_errors, mse,
    pooled_sqnr_db, pooled_sqnr_from_errors, rmse, sqnr_db,
)
from .memory import Ledger, LedgerRow, held_nbytes, ledger_row, memory_ledger
from .quality import compare_to_float, decode_speed_ratio, decode_tokens_per_second, evaluate_model, held_out_windows, logprobs
from .samples import sample_weight
from .sensitivity import layer_sensitivity, mixed_precision, protection_candidates
from .tour import (
    RECOVERY_COLUMNS, RECOVERY_FORMATS, default_recipes, format_recipes, full_recipes, method_recovery, methods_recipes, run_tour,
    save_records, speed_note, tour_recipes,
)

__all__ = [
    "METRICS", "RECOVERY_COLUMNS", "RECOVERY_FORMATS", "Comparison", "Ledger", "LedgerRow", "compare_models", "compare_to_float", "cosine_similarity",
    "decode_speed_ratio", "decode_tokens_per_second", "default_recipes", "error_report", "error_table", "evaluate_model", "format_recipes", "format_table",
    "full_recipes", "held_nbytes", "held_out_windows", "layer_sensitivity", "ledger_row", "logprobs", "max_abs_error",
    "memory_ledger", "method_recovery", "methods_recipes", "mixed_precision", "model_weight_errors", "models_to_compare", "mse", "pooled_sqnr_db",
    "pooled_sqnr_from_errors", "protection_candidates", "rmse", "run_tour", "sample_weight", "save_records",
    "speed_note", "sqnr_db", "tour_recipes",
]
