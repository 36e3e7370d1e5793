"""Teachers: the offline MiniLM default, BART / RoBERTa / DistilBERT code paths on tiny random
configurations built here (no download), the embedding cache, and the error for absent weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from learning_fixtures import tiny_bert_tokenizer

from tactile_material_ros.learning.embedding_cache import EmbeddingCache
from tactile_material_ros.learning.teachers import HuggingFaceTeacher, TeacherUnavailableError, load_teacher

CAPTIONS = ["smooth, hard, cool", "soft, fabric-like", "rough, bumpy, hard", "smooth, hard, cool"]


def _tiny_model(kind: str, vocab: int):
    from transformers import AutoModel, BartConfig, DistilBertConfig, RobertaConfig

    torch.manual_seed(0)
    if kind == "bart":
        config = BartConfig(vocab_size=vocab, d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                            decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64,
                            pad_token_id=0, bos_token_id=101, eos_token_id=102, decoder_start_token_id=102)
    elif kind == "roberta":
        config = RobertaConfig(vocab_size=vocab, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=32, max_position_embeddings=80, pad_token_id=0)
    else:
        config = DistilBertConfig(vocab_size=vocab, dim=16, n_layers=1, n_heads=2, hidden_dim=32,
                                  max_position_embeddings=64, pad_token_id=0)
    return AutoModel.from_config(config)


@pytest.mark.parametrize("kind", ["bart", "roberta", "distilbert"])
def test_tiny_hf_teachers_give_the_first_token_state_from_a_local_folder(kind: str, tmp_path: Path) -> None:
    tokenizer = tiny_bert_tokenizer()
    model = _tiny_model(kind, tokenizer.vocab_size)
    model.save_pretrained(tmp_path / kind)
    tokenizer.save_pretrained(tmp_path / kind)
    teacher = load_teacher(str(tmp_path / kind))  # the "local path" way of providing weights
    assert teacher.pooling == "first" and teacher.dim == 16
    emb = teacher.embed(CAPTIONS)
    assert emb.shape == (4, 16) and emb.dtype == torch.float32
    assert torch.allclose(emb[0], emb[3]) and not torch.allclose(emb[0], emb[1], atol=1e-4)
    # the state is the (encoder's) first token, not a mean over tokens
    batch = tokenizer(CAPTIONS[:1], return_tensors="pt")
    encoder = teacher.model.get_encoder() if kind == "bart" else teacher.model
    with torch.no_grad():
        expected = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state[:, 0]
    assert torch.allclose(emb[:1], expected, atol=1e-5)


def test_offline_default_is_minilm_mean_pooled_384() -> None:
    teacher = load_teacher()
    assert teacher.name == "all-MiniLM-L6-v2" and teacher.pooling == "mean" and teacher.dim == 384
    emb = teacher.embed(["smooth, hard", "smooth, hard, cool", "soft, fluffy, fabric-like"])
    sims = torch.nn.functional.cosine_similarity(emb[0:1], emb[1:])
    assert sims[0] > sims[1]  # a real sentence model: overlapping descriptions are closer


def test_absent_hf_weights_say_how_to_provide_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_hf_home"))
    with pytest.raises(TeacherUnavailableError) as info:
        load_teacher("facebook/bart-base")
    message = str(info.value)
    assert "HF_HOME" in message and "path" in message and "minilm" in message


def test_embedding_cache_hits_on_the_second_call_and_keys_by_teacher(tmp_path: Path) -> None:
    tokenizer = tiny_bert_tokenizer()
    teacher = HuggingFaceTeacher("tiny-roberta", _tiny_model("roberta", tokenizer.vocab_size), tokenizer, "first")
    cache = EmbeddingCache(tmp_path, teacher)
    first = cache.embeddings(CAPTIONS)
    calls = teacher.forward_calls
    assert calls >= 1 and cache.misses == 3  # three unique captions embedded once each
    again = EmbeddingCache(tmp_path, teacher)  # a new process would build a new cache object
    second = again.embeddings(list(reversed(CAPTIONS)))
    assert teacher.forward_calls == calls, "cached captions must not go through the teacher again"
    assert again.hits == 3 and again.misses == 0
    assert torch.equal(second, first.flip(0))
    # another pooling of the same weights is another teacher: a separate cache entry
    other = HuggingFaceTeacher("tiny-roberta", teacher.model, tokenizer, "mean")
    assert EmbeddingCache(tmp_path, other).path != cache.path
