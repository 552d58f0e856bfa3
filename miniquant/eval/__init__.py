"""Evaluation: error metrics, the memory ledger (and, later, model quality and speed)."""
from .errors import (
    METRICS, cosine_similarity, error_report, error_table, format_table, max_abs_error, model_weight_errors, mse,
    pooled_sqnr_db, pooled_sqnr_from_errors, rmse, sqnr_db,
)
from .memory import Ledger, LedgerRow, held_nbytes, ledger_row, memory_ledger

__all__ = [
    "METRICS", "Ledger", "LedgerRow", "cosine_similarity", "error_report", "error_table",
    "format_table", "held_nbytes", "ledger_row", "max_abs_error", "memory_ledger", "model_weight_errors", "mse",
    "pooled_sqnr_db", "pooled_sqnr_from_errors", "rmse", "sqnr_db",
]
