"""Certified robust accuracy and the offset cross-entropy against REFERENCES.md's worked
example and a hand computation."""
import math

import pytest
import torch

from lipcore.robustness import OFFSET, certified, certified_accuracy, margins, offset_cross_entropy
from lipcore.training.optim import LOSSES

SCORES = torch.tensor([[1, 0], [2, 0], [0, 1], [0, 2], [1.1, 0.9]])
LABELS = torch.zeros(5, dtype=torch.long)


def test_worked_example():
    assert certified(SCORES, LABELS, 0.0).tolist() == [True, True, False, False, True]
    assert certified(SCORES, LABELS, 1.0).tolist() == [False, True, False, False, False]
    assert certified_accuracy(SCORES, LABELS, [0.0, 1.0]) == {
        "certified_acc/0": pytest.approx(0.6), "certified_acc/1": pytest.approx(0.2)}


def test_margin_and_lipschitz_scaling():
    torch.testing.assert_close(margins(SCORES, LABELS), torch.tensor([1, 2, -1, -2, 0.2]))
    # a 2-Lipschitz network certifies half the radius: 2/√2/2 = 0.707 < 1
    assert certified(SCORES, LABELS, 0.7, lipschitz=2.0).tolist() == [False, True, False, False, False]
    assert certified(SCORES, LABELS, 0.71, lipschitz=2.0).sum() == 0
    three = torch.tensor([[3.0, 1.0, 2.5]])
    assert margins(three, torch.tensor([0])).item() == pytest.approx(0.5)


def test_offset_cross_entropy_by_hand():
    m, t = 2 * math.sqrt(2) * 36 / 255, 0.25
    assert OFFSET == pytest.approx(0.3993, abs=1e-4)
    # row [1, 0], label 0: T·log(1 + exp(−(1 − m)/T)); row [0, 1], label 0: T·log(1 + exp((1 + m)/T))
    expected = (t * math.log1p(math.exp(-(1 - m) / t)) + t * math.log1p(math.exp((1 + m) / t))) / 2
    got = offset_cross_entropy(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]))
    assert got.item() == pytest.approx(expected, rel=1e-6)
    loss = LOSSES["offset_cross_entropy"]()
    assert loss(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0])).item() == pytest.approx(expected)
