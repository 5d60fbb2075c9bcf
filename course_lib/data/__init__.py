"""Offline, deterministic data for the language chapters.

- :mod:`.lexicon` and :mod:`.corpus`: a synthetic English→Spanish parallel corpus from a
  synchronous grammar (gender agreement, adjective reordering, contractions, "su",
  relative clauses), with :func:`translate` giving the one correct translation;
- :mod:`.vocab`: tokenisation, vocabularies with <pad>/<bos>/<eos>/<unk>, padding and
  DataLoaders of translation batches;
- :mod:`.agreement`: the long-range gender-agreement task of chapter 1;
- :mod:`.images`: images for the vision chapters (scikit-learn digits, drawn shapes with
  captions, opt-in torchvision datasets).
"""
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
from .images import (
    ATTRIBUTE_NAMES,
    COLOUR_NAMES,
    DEFAULT_TEMPLATE,
    POSITION_NAMES,
    SHAPE_NAMES,
    SIZE_NAMES,
    ImageSplit,
    Shapes,
    load_digits,
    make_shapes,
    resize_images,
    torchvision_dataset,
)
from .lexicon import FEMININE, LEXICON, MASCULINE, Adjective, Lexicon, Noun, Preposition, Verb
from .vocab import (
    BOS,
    EOS,
    PAD,
    SPECIALS,
    UNK,
    Batch,
    TranslationData,
    Vocab,
    make_translation_data,
    pad_batch,
    tokenize,
    translation_loader,
)

__all__ = [
    # corpus
    "CorpusConfig", "make_parallel_corpus", "translate", "parse_english", "sample_sentence",
    "render_english", "render_spanish",
    "LEXICON", "Lexicon", "Noun", "Adjective", "Verb", "Preposition", "MASCULINE", "FEMININE",
    # vocab
    "tokenize", "Vocab", "PAD", "BOS", "EOS", "UNK", "SPECIALS", "pad_batch", "Batch",
    "TranslationData", "make_translation_data", "translation_loader",
    # agreement
    "AgreementConfig", "make_agreement_task", "decode_agreement", "AGREEMENT_VOCAB", "AGREEMENT_STOI",
    "FILLER_WORDS", "QUERY_ID", "MASCULINE_LABEL", "FEMININE_LABEL",
    # images
    "ImageSplit", "load_digits", "resize_images", "Shapes", "make_shapes", "SHAPE_NAMES",
    "COLOUR_NAMES", "SIZE_NAMES", "POSITION_NAMES", "ATTRIBUTE_NAMES", "DEFAULT_TEMPLATE",
    "torchvision_dataset",
]
