"""Offline, deterministic data for every chapter; nothing downloads. One module per data set:

- :mod:`.lexicon` and :mod:`.corpus`: a synthetic English→Spanish parallel corpus from a
  synchronous grammar (gender agreement, adjective reordering, contractions, "su",
  relative clauses), with :func:`translate` giving the one correct translation (chapters 2, 6);
- :mod:`.vocab`: tokenisation, vocabularies with <pad>/<bos>/<eos>/<unk> and padding;
- :mod:`.translation`: the corpus cut into train/valid/test and DataLoaders of translation
  batches (chapter 6);
- :mod:`.agreement`: the long-range gender-agreement task (chapter 1);
- :mod:`.tagging`: per-token probing tasks on the corpus's English side (chapter 4's heads);
- :mod:`.order`: is marker A before marker B? (chapter 5's positions);
- :mod:`.images`: images for the vision chapters (scikit-learn digits, drawn shapes with
  captions, opt-in torchvision datasets; chapters 7–10).
"""

from . import images
from .agreement import (
    AGREEMENT_STOI,
    AGREEMENT_VOCAB,
    FEMININE_LABEL,
    FILLER_WORDS,
    MASCULINE_LABEL,
    QUERY_ID,
    AgreementConfig,
    decode_agreement,
    make_agreement_task,
)
from .corpus import (
    CorpusConfig,
    make_parallel_corpus,
    parse_english,
    render_english,
    render_spanish,
    sample_sentence,
    translate,
)
from .images import *  # noqa: F403 (the names in images.__all__)
from .lexicon import FEMININE, LEXICON, MASCULINE, Adjective, Lexicon, Noun, Preposition, Verb
from .order import MARKER_A, MARKER_B, make_order_task
from .tagging import IGNORE, NOUN_GENDER, TAGGING_TASKS, TaggingData, make_tagging_data
from .translation import Batch, TranslationData, make_translation_data, translation_loader
from .vocab import BOS, EOS, PAD, SPECIALS, UNK, Vocab, pad_batch, tokenize

__all__ = [
    # corpus
    "CorpusConfig",
    "make_parallel_corpus",
    "translate",
    "parse_english",
    "sample_sentence",
    "render_english",
    "render_spanish",
    "LEXICON",
    "Lexicon",
    "Noun",
    "Adjective",
    "Verb",
    "Preposition",
    "MASCULINE",
    "FEMININE",
    # vocab
    "tokenize",
    "Vocab",
    "PAD",
    "BOS",
    "EOS",
    "UNK",
    "SPECIALS",
    "pad_batch",
    # translation
    "Batch",
    "TranslationData",
    "make_translation_data",
    "translation_loader",
    # tagging
    "TaggingData",
    "make_tagging_data",
    "TAGGING_TASKS",
    "IGNORE",
    "NOUN_GENDER",
    # order
    "make_order_task",
    "MARKER_A",
    "MARKER_B",
    # agreement
    "AgreementConfig",
    "make_agreement_task",
    "decode_agreement",
    "AGREEMENT_VOCAB",
    "AGREEMENT_STOI",
    "FILLER_WORDS",
    "QUERY_ID",
    "MASCULINE_LABEL",
    "FEMININE_LABEL",
    # images: every name images.py exports
    *images.__all__,
]
