"""Tests of course_lib.data: the parallel corpus, vocabularies and batching, the agreement task."""

from __future__ import annotations

import pytest
import torch

from course_lib.data import (
    AGREEMENT_VOCAB,
    BOS,
    EOS,
    FEMININE_LABEL,
    FILLER_WORDS,
    LEXICON,
    MASCULINE_LABEL,
    PAD,
    QUERY_ID,
    SPECIALS,
    UNK,
    AgreementConfig,
    Batch,
    CorpusConfig,
    Vocab,
    decode_agreement,
    make_agreement_task,
    make_parallel_corpus,
    make_translation_data,
    pad_batch,
    parse_english,
    render_english,
    tokenize,
    translate,
    translation_loader,
)

ES_NOUN_GENDER = {n.es: n.gender for n in LEXICON.nouns}
EN_NOUNS = {n.en for n in LEXICON.nouns}
EN_ADJECTIVES = {a.en for a in LEXICON.adjectives}
ES_ADJECTIVE_GENDERS: dict[str, set[str]] = {}
for _a in LEXICON.adjectives:
    ES_ADJECTIVE_GENDERS.setdefault(_a.es_m, set()).add("m")
    ES_ADJECTIVE_GENDERS.setdefault(_a.es_f, set()).add("f")
DETERMINER_GENDER = {"el": "m", "un": "m", "del": "m", "al": "m", "la": "f", "una": "f"}


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, str]]:
    return make_parallel_corpus(2000, seed=0)


# ------------------------------------------------------------------------------ corpus


def test_corpus_is_deterministic_per_seed_and_differs_across_seeds():
    assert make_parallel_corpus(300, seed=0) == make_parallel_corpus(300, seed=0)
    assert make_parallel_corpus(300, seed=0) != make_parallel_corpus(300, seed=1)


def test_corpus_format_lower_case_single_spaces_final_period_unique(corpus):
    assert len(corpus) == 2000
    for en, es in corpus:
        for side in (en, es):
            assert side == side.lower() and side.endswith(" .") and "  " not in side
            assert side.split(" ") == tokenize(side)
    assert len({en for en, _ in corpus}) == len(corpus), "English sentences must not repeat"


def test_spanish_determiners_agree_with_the_gender_of_the_following_noun(corpus):
    checked = 0
    for _, es in corpus:
        words = es.split()
        for det, noun in zip(words, words[1:]):
            if det in DETERMINER_GENDER:
                assert noun in ES_NOUN_GENDER, f"{det!r} not followed by a noun in {es!r}"
                assert ES_NOUN_GENDER[noun] == DETERMINER_GENDER[det], f"{det} {noun} disagrees in {es!r}"
                checked += 1
    assert checked > len(corpus)


def test_adjectives_precede_the_noun_in_english_and_follow_and_agree_in_spanish(corpus):
    n_adjectives = 0
    for en, es in corpus:
        en_words, es_words = en.split(), es.split()
        for i, word in enumerate(en_words):
            if word in EN_ADJECTIVES:
                assert en_words[i + 1] in EN_NOUNS, f"English adjective {word!r} not before a noun in {en!r}"
                n_adjectives += 1
        for i, word in enumerate(es_words):
            if word in ES_ADJECTIVE_GENDERS:
                noun = es_words[i - 1]
                assert noun in ES_NOUN_GENDER, f"Spanish adjective {word!r} not after a noun in {es!r}"
                assert ES_NOUN_GENDER[noun] in ES_ADJECTIVE_GENDERS[word], f"{noun} {word} disagrees in {es!r}"
        assert sum(w in EN_ADJECTIVES for w in en_words) == sum(w in ES_ADJECTIVE_GENDERS for w in es_words)
    assert n_adjectives > 100


def test_contractions_replace_de_el_and_a_el(corpus):
    spanish = [es for _, es in corpus]
    assert not any(" de el " in es or " a el " in es for es in spanish)
    assert any(" del " in es for es in spanish) and any(" al " in es for es in spanish)
    assert any(" de la " in es for es in spanish) and any(" a la " in es for es in spanish)


def test_corpus_has_relative_clauses_and_possessives(corpus):
    with_relative = [(en, es) for en, es in corpus if " that " in en]
    assert len(with_relative) > 0.1 * len(corpus)
    for en, es in corpus:
        assert en.split().count("that") == es.split().count("que"), (en, es)
        possessives = sum(en.split().count(p) for p in ("its", "his", "her"))
        assert possessives == es.split().count("su"), (en, es)
    assert any(" su " in es for _, es in corpus)


def test_translate_agrees_with_the_generator_and_english_round_trips(corpus):
    for en, es in corpus:
        assert translate(en) == es
        assert render_english(parse_english(en)) == en


@pytest.mark.parametrize(
    "english, spanish",
    [
        (
            "the jaguar slept on the branch of the tree with its tail .",
            "el jaguar dormía en la rama del árbol con su cola .",
        ),
        ("the jaguar that sees the bird sleeps .", "el jaguar que ve al pájaro duerme ."),
        ("the girl sees the black branch .", "la niña ve la rama negra ."),
        ("the black jaguar watched the big tree .", "el jaguar negro miraba el árbol grande ."),
        ("a girl found an old dog .", "una niña encontraba a un perro viejo ."),
        ("the man sleeps near the river of the house .", "el hombre duerme cerca del río de la casa ."),
        (
            "the woman that hears the frog that eats the leaf runs under her bridge .",
            "la mujer que oye a la rana que come la hoja corre debajo de su puente .",
        ),
    ],
)
def test_translate_known_sentences(english, spanish):
    assert translate(english) == spanish
    assert render_english(parse_english(english)) == english


def test_translate_rejects_sentences_outside_the_grammar():
    with pytest.raises(ValueError, match="'flies'"):
        translate("the jaguar flies .")
    with pytest.raises(ValueError, match="final"):
        translate("the jaguar sleeps")


def test_config_switches_parts_of_the_grammar_off():
    plain = CorpusConfig(p_adjective=0.0, p_relative_clause=1.0, max_relative_depth=0, p_prep_phrase=0.0)
    for en, _es in make_parallel_corpus(200, seed=3, config=plain):
        assert "that" not in en.split() and not any(w in EN_ADJECTIVES for w in en.split())
        assert not any(p.en in en.split() for p in LEXICON.prepositions)
    nested = CorpusConfig(p_relative_clause=1.0, p_transitive=1.0, max_relative_depth=2)
    counts = {en.split().count("that") for en, _ in make_parallel_corpus(200, seed=3, config=nested)}
    assert max(counts) >= 2, "max_relative_depth=2 with p=1 should nest relative clauses"


def test_corpus_errors_name_the_argument():
    with pytest.raises(ValueError, match="n_pairs"):
        make_parallel_corpus(0)
    with pytest.raises(ValueError, match="p_adjective"):
        make_parallel_corpus(10, config=CorpusConfig(p_adjective=1.5))
    tiny = CorpusConfig(p_adjective=0, p_prep_phrase=0, p_relative_clause=0, p_transitive=0, p_indefinite=0, p_past=0)
    with pytest.raises(ValueError, match="n_pairs=100"):  # only 12 subjects x 6 verbs = 72 sentences exist
        make_parallel_corpus(100, config=tiny)
    tiny.unique = False
    assert len(make_parallel_corpus(100, config=tiny)) == 100


# ------------------------------------------------------------------------------- vocab


def test_tokenize_lower_cases_and_splits_punctuation():
    assert tokenize("El jaguar dormía.") == ["el", "jaguar", "dormía", "."]
    assert tokenize("  La rama,  del árbol !") == ["la", "rama", ",", "del", "árbol", "!"]


def test_vocab_specials_come_first_with_fixed_ids():
    vocab = Vocab.build(["the jaguar sleeps ."])
    assert vocab.itos[:4] == list(SPECIALS)
    assert [vocab.stoi[s] for s in SPECIALS] == [PAD, BOS, EOS, UNK] == [0, 1, 2, 3]
    assert len(vocab) == 4 + 4


def test_vocab_build_orders_by_frequency_then_alphabet_whatever_the_input_order():
    sentences = ["z y", "y z x", "w"]
    vocab = Vocab.build(sentences)
    assert vocab.itos[4:] == ["y", "z", "w", "x"]
    assert Vocab.build(list(reversed(sentences))).itos == vocab.itos
    assert Vocab.build(sentences, min_freq=2).itos[4:] == ["y", "z"]


def test_encode_decode_round_trip_and_unknown_words(corpus):
    vocab = Vocab.build(es for _, es in corpus)
    for _, es in corpus[:200]:
        ids = vocab.encode(es)
        assert ids[0] == BOS and ids[-1] == EOS and UNK not in ids
        assert vocab.decode(ids) == es
    ids = vocab.encode("el unicornio duerme .", add_bos_eos=False)
    assert ids[1] == UNK and len(ids) == 4
    assert vocab.decode(ids) == "el <unk> duerme ."


def test_decode_stops_at_eos_and_drops_padding_unless_told_not_to():
    vocab = Vocab.build(["a b"])
    ids = [BOS, vocab.stoi["a"], EOS, vocab.stoi["b"], PAD]
    assert vocab.decode(ids) == "a"
    assert vocab.decode(torch.tensor(ids)) == "a"
    assert vocab.decode(ids, strip_special=False) == "<bos> a <eos> b <pad>"


def test_pad_batch_shapes_lengths_and_padding():
    padded, lengths = pad_batch([[5, 6, 7], [8], [9, 10]])
    assert padded.shape == (3, 3) and padded.dtype == torch.long
    assert lengths.tolist() == [3, 1, 2] and lengths.dtype == torch.long
    assert padded.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    padded, _ = pad_batch([[5], [6, 7]], pad_id=-1)
    assert padded.tolist() == [[5, -1], [6, 7]]


def test_pad_batch_rejects_an_empty_list_naming_seqs():
    with pytest.raises(ValueError, match="seqs"):
        pad_batch([])


def test_translation_data_splits_are_deterministic_and_vocab_comes_from_train():
    data = make_translation_data(500, seed=0)
    assert (len(data.train), len(data.valid), len(data.test)) == (400, 50, 50)
    again, other = make_translation_data(500, seed=0), make_translation_data(500, seed=1)
    assert (again.train, again.valid, again.test) == (data.train, data.valid, data.test)
    assert other.train != data.train
    assert data.src_vocab.itos == Vocab.build(en for en, _ in data.train).itos
    assert data.tgt_vocab.itos == Vocab.build(es for _, es in data.train).itos
    assert not set(data.train) & set(data.test)
    with pytest.raises(ValueError, match="split"):
        make_translation_data(100, split=(0.5, 0.5, 0.5))


def test_translation_loader_batches_shapes_dtypes_and_framing():
    data = make_translation_data(300, seed=0)
    loader = translation_loader(data.train, data.src_vocab, data.tgt_vocab, batch_size=16, shuffle=True)
    batches = list(loader)
    assert len(batches) == 15 and sum(b.src.shape[0] for b in batches) == len(data.train)
    batch = batches[0]
    assert isinstance(batch, Batch)
    B, S = batch.src.shape
    assert B == 16 and batch.tgt.shape[0] == 16 and batch.src_lengths.shape == batch.tgt_lengths.shape == (16,)
    assert batch.src.dtype == batch.tgt.dtype == batch.src_lengths.dtype == torch.long
    assert S == int(batch.src_lengths.max()) and batch.tgt.shape[1] == int(batch.tgt_lengths.max())
    for b in range(B):
        n = int(batch.tgt_lengths[b])
        assert batch.tgt[b, 0] == BOS and batch.tgt[b, n - 1] == EOS and (batch.tgt[b, n:] == PAD).all()
    assert batch.to("cpu").src.equal(batch.src)


def test_translation_loader_is_seeded_and_unshuffled_keeps_order():
    data = make_translation_data(300, seed=0)

    def first(seed: int, shuffle: bool = True) -> Batch:
        return next(iter(translation_loader(data.train, data.src_vocab, data.tgt_vocab, 8, shuffle, seed)))

    assert first(0).src.equal(first(0).src) and first(0).tgt.equal(first(0).tgt)
    assert not torch.equal(first(0).src, first(1).src), "another seed should shuffle differently"
    ordered = first(0, shuffle=False)
    assert data.tgt_vocab.decode(ordered.tgt[0]) == data.train[0][1]
    with pytest.raises(ValueError, match="batch_size"):
        translation_loader(data.train, data.src_vocab, data.tgt_vocab, 0, True)


# --------------------------------------------------------------------------- agreement


def test_agreement_shapes_dtypes_and_layout():
    X, y = make_agreement_task(100, distance=7, seed=0)
    assert X.shape == (100, 9) and y.shape == (100,)
    assert X.dtype == torch.long and y.dtype == torch.long
    assert (X[:, -1] == QUERY_ID).all(), "the last token must be the query"
    fillers = {AGREEMENT_VOCAB.index(w) for w in FILLER_WORDS}
    assert set(X[:, 1:-1].flatten().tolist()) <= fillers, "the distance tokens must all be fillers"
    X0, _ = make_agreement_task(10, distance=0)
    assert X0.shape == (10, 2)


def test_agreement_label_is_the_gender_of_the_first_noun():
    X, y = make_agreement_task(500, distance=3, seed=1)
    for first, label in zip(X[:, 0].tolist(), y.tolist()):
        gender = LEXICON.noun_gender(AGREEMENT_VOCAB[first])
        assert label == (FEMININE_LABEL if gender == "f" else MASCULINE_LABEL)


def test_agreement_fillers_carry_no_gender():
    gendered = set(ES_NOUN_GENDER) | set(ES_ADJECTIVE_GENDERS) | set(DETERMINER_GENDER)
    assert not gendered & set(FILLER_WORDS)
    assert len(set(AGREEMENT_VOCAB)) == len(AGREEMENT_VOCAB)


def test_agreement_labels_are_balanced():
    _, y = make_agreement_task(1000, distance=5, seed=2)
    assert int(y.sum()) == 500
    _, y = make_agreement_task(1000, distance=5, seed=2, config=AgreementConfig(balanced=False))
    assert abs(y.float().mean().item() - 0.5) < 0.1


def test_agreement_is_deterministic_per_seed():
    X1, y1 = make_agreement_task(50, distance=10, seed=0)
    X2, y2 = make_agreement_task(50, distance=10, seed=0)
    X3, y3 = make_agreement_task(50, distance=10, seed=1)
    assert X1.equal(X2) and y1.equal(y2)
    assert not X1.equal(X3)


def test_agreement_n_fillers_limits_the_filler_vocabulary():
    X, _ = make_agreement_task(200, distance=10, config=AgreementConfig(n_fillers=3))
    allowed = {AGREEMENT_VOCAB.index(w) for w in FILLER_WORDS[:3]}
    assert set(X[:, 1:-1].flatten().tolist()) == allowed


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(n=0, distance=3), "n"),
        (dict(n=10, distance=-1), "distance"),
        (dict(n=10, distance=2.5), "distance"),
        (dict(n=10, distance=3, config=AgreementConfig(n_fillers=10_000)), "n_fillers"),
    ],
)
def test_agreement_rejects_bad_arguments_naming_them(kwargs, name):
    with pytest.raises(ValueError, match=name):
        make_agreement_task(**kwargs)


def test_decode_agreement_reads_a_sequence():
    X, _ = make_agreement_task(1, distance=2, seed=0)
    words = decode_agreement(X[0]).split()
    assert len(words) == 4 and words[-1] == "<query>" and words[0] in ES_NOUN_GENDER


def test_data_package_documents_and_exports_every_module():
    import importlib
    import pkgutil

    import course_lib.data as data

    for info in pkgutil.iter_modules(data.__path__):
        module = importlib.import_module(f"course_lib.data.{info.name}")
        assert f":mod:`.{info.name}`" in data.__doc__, f"course_lib.data's docstring does not describe {info.name}"
        public = {
            n
            for n, v in vars(module).items()
            if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__ and callable(v)
        }
        assert public & set(data.__all__), f"course_lib.data exports nothing of {info.name}"
