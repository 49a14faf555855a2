"""A small character-level text set for the GPT-style model (bundled text, no download).

x: (N, seq_len) int64 character ids, y: (N,) the character that follows each window (a
classification over the vocabulary, as the `gpt` model's last-token head predicts it); windows
start at random offsets (seeded by `data.data_seed`); the first 90 % of the text feeds
training windows, the rest test windows.
"""
from __future__ import annotations

from typing import Any

import torch

from lipcore.data.base import DATASETS, Dataset

# Public-domain opening of Lewis Carroll's "Alice's Adventures in Wonderland" (1865).
CORPUS = (
    "Alice was beginning to get very tired of sitting by her sister on the bank, and of having "
    "nothing to do: once or twice she had peeped into the book her sister was reading, but it had "
    "no pictures or conversations in it, and what is the use of a book, thought Alice, without "
    "pictures or conversations? So she was considering in her own mind (as well as she could, for "
    "the hot day made her feel very sleepy and stupid), whether the pleasure of making a "
    "daisy-chain would be worth the trouble of getting up and picking the daisies, when suddenly a "
    "White Rabbit with pink eyes ran close by her. There was nothing so very remarkable in that; "
    "nor did Alice think it so very much out of the way to hear the Rabbit say to itself, Oh dear! "
    "Oh dear! I shall be late! (when she thought it over afterwards, it occurred to her that she "
    "ought to have wondered at this, but at the time it all seemed quite natural); but when the "
    "Rabbit actually took a watch out of its waistcoat-pocket, and looked at it, and then hurried "
    "on, Alice started to her feet, for it flashed across her mind that she had never before seen "
    "a rabbit with either a waistcoat-pocket, or a watch to take out of it, and burning with "
    "curiosity, she ran across the field after it, and fortunately was just in time to see it pop "
    "down a large rabbit-hole under the hedge. In another moment down went Alice after it, never "
    "once considering how in the world she was to get out again."
)


@DATASETS.register("text")
def text(cfg: dict[str, Any]) -> Dataset:
    """Next-character prediction windows of length `data.seq_len` over `CORPUS`."""
    vocab = sorted(set(CORPUS))
    ids = torch.tensor([vocab.index(c) for c in CORPUS], dtype=torch.int64)
    t = cfg["seq_len"]
    split = int(0.9 * len(ids))
    g = torch.Generator().manual_seed(cfg["data_seed"])

    def windows(part: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        if len(part) <= t + 1:
            raise ValueError(f"data.seq_len: {t} is too long for the bundled text")
        start = torch.randint(0, len(part) - t - 1, (n,), generator=g)
        idx = start[:, None] + torch.arange(t + 1)
        chunk = part[idx]
        return chunk[:, :-1], chunk[:, -1]

    x_train, y_train = windows(ids[:split], cfg["n_train"])
    x_test, y_test = windows(ids[split:], cfg["n_test"])
    return Dataset(x_train, y_train, x_test, y_test, "classification", len(vocab),
                   info={"vocab": "".join(vocab)})
