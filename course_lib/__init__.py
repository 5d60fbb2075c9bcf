"""course_lib — the reference code of "Transformers, built by hand".

Three kinds of module, each idea in one place:

- concept modules, one per chapter, named after it: ``rnn`` (1), ``embeddings`` (2),
  ``attention`` (3), ``multihead`` (4), ``positional`` (5), ``transformer`` and ``decoding``
  (6), ``vit`` (7), ``swin`` (8), ``clip`` / ``clip_model`` (9), ``mae`` / ``mae_model`` (10).
  A later chapter calls an earlier chapter's public function (``multihead`` uses chapter 3's
  ``attention_weights``); ``clip`` and ``mae`` hold the operations a student writes,
  ``clip_model`` and ``mae_model`` the models built from them;
- experiment modules, beside the experiment that needs them: ``long_range`` (chapter 1's
  accuracy against distance), ``head_tagging`` (chapter 4's ``HeadTagger``), ``order_task``
  (chapter 5's ``OrderClassifier``). Concept modules never import them;
- shared infrastructure: ``runtime`` (device, seeding, fast mode), ``data`` (every data set,
  offline), ``training``, ``plotting``, ``similarity``, ``complexity``, ``reference`` and
  ``grading`` / ``diagnosis`` / ``mistakes`` (what the notebooks' test cells call), and
  ``results`` (the measured figures that `make bench` collects).

Names follow the paper or the oracle library: ``d_model`` (width C), ``n_heads`` (h), ``d_ff``,
``n_layers``, ``n_patches``; shapes are batch-first, (B, T, C) for sequences and (B, C, H, W) for
images; a boolean attention mask is True where a query MAY attend (as in
``F.scaled_dot_product_attention``; ``nn.MultiheadAttention`` uses the opposite).
"""

from .results import record_result
from .runtime import fast_or_full, get_device, is_fast_mode, seed_everything

__version__ = "0.1.0"
__all__ = ["get_device", "seed_everything", "is_fast_mode", "fast_or_full", "record_result", "__version__"]
