"""Methods that decide how each weight is quantized: round-to-nearest recipes (more to come)."""
from .recipe import DEFAULT_KEEP, Recipe, check_recipe, fake_quantize_model, is_quantized, make_recipe, quantize_model

__all__ = ["DEFAULT_KEEP", "Recipe", "check_recipe", "fake_quantize_model", "is_quantized", "make_recipe", "quantize_model"]
