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
  (chapter 5's ``OrderClassifier``), ``length_extrapolation`` (chapter 5), ``cnn_baseline``
  and ``mixer`` (chapter 7's ``SmallCNN`` and MLP-Mixer), ``vit_experiments`` (chapter 7),
  ``mae_experiments`` (chapter 10). Concept modules never import them;
- shared infrastructure: ``runtime`` (device, seeding, fast mode), ``data`` (every data set,
  offline), ``training`` (THE training loop ``train_steps``, which every chapter's training
  runs through with its own loss, plus ``fit_classifier``, ``accuracy``, ``count_parameters``)
  and ``schedules`` (warm-up + cosine, warm-up + 1/√step), ``plotting``, ``similarity``,
  ``complexity``, ``reference`` and ``grading`` / ``integrity`` / ``diagnosis`` / ``mistakes``
  (what the notebooks' test cells call), and ``results`` (the figures `make bench` collects).

One name per idea, the paper's or the oracle library's, in every config and signature:

- ``d_model``: a token's width C (``decoder_d_model`` for MAE's narrower decoder); ``d_ff``:
  the feed-forward hidden width; ``n_heads``: heads h per attention layer;
- ``n_layers``: the depth of one stack of blocks, prefixed by the stack it counts like its
  width and heads (``decoder_n_layers`` beside ``decoder_d_model``, ``image_n_layers``,
  ``text_n_layers``). Kept as they are: chapter 6's ``TransformerConfig.n_encoder_layers`` /
  ``n_decoder_layers`` (its graded test cells read them), ``num_layers`` of chapter 1's stacked
  RNN (``nn.RNN``'s argument, which the exercise mirrors) and Swin's ``depths``, one depth per
  stage (torchvision's and the paper's);
- ``n_patches``: L = (H/P)·(W/P), the patches of one image;
- ``embed_dim``: Swin's stage-1 width C only (torchvision's ``SwinTransformer(embed_dim=...)``,
  the chapter's oracle); CLIP's joint-space width is ``projection_dim`` (Hugging Face's
  ``CLIPConfig``), the E of its (B, E) embeddings;
- ``position``: which position information a model adds, a string — "learned", "sinusoidal",
  "rotary", "2d" (ViT's row + column embedding) or "none" (``ViTConfig``, ``CLIPConfig``, ``OrderClassifierConfig``,
  ``LengthClassifierConfig``). Parameters keep their oracle's names (``pos_embed`` in ViT/MAE,
  ``position_embedding`` in CLIP's text encoder).

Shapes are batch-first, (B, T, C) for sequences and (B, C, H, W) for images; a boolean attention
mask is True where a query MAY attend (as in ``F.scaled_dot_product_attention``;
``nn.MultiheadAttention`` uses the opposite).
"""

from .results import record_result
from .runtime import fast_or_full, get_device, is_fast_mode, seed_everything

__version__ = "0.1.0"
__all__ = ["get_device", "seed_everything", "is_fast_mode", "fast_or_full", "record_result", "__version__"]
