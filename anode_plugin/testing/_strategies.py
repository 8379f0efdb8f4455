"""Hypothesis strategies: input batches, random vector fields and whole model configurations.

Strategies are nouns with keyword-only ``min_``/``max_`` bounds, as in
``hypothesis.extra.numpy``, and check their own arguments when they are built, raising
``hypothesis.errors.InvalidArgument`` as hypothesis's own strategies do. One module per
concept: inputs (``_input_strategies``), vector fields (``_field_strategies``), models
(``_model_strategies``), and their argument checks (``_strategy_args``).
"""

from ._field_strategies import conv_vector_fields, mlp_vector_fields
from ._input_strategies import images, model_inputs, vectors
from ._model_strategies import augmented_neural_odes

__all__ = [
    "augmented_neural_odes",
    "conv_vector_fields",
    "images",
    "mlp_vector_fields",
    "model_inputs",
    "vectors",
]
