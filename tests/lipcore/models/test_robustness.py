"""Certified robust accuracy and the offset cross-entropy against REFERENCES.md's worked
example and a hand computation."""
import math

import pytest
import torch

from lipcore.robustness import OFFSET, certified, certified_accuracy, margins, offset_cross_entropy
from lipcore.training.losses import LOSSES

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


def test_certificates_survive_an_attack():
    """Soundness against an independent attacker: points certified at ε keep their label under
    30 steps of ℓ2 projected gradient ascent on the margin within radius ε."""
    from types import SimpleNamespace

    from lipcore.models import build_model
    from lipcore.robustness import evaluate_certified

    torch.manual_seed(0)
    model = build_model({"name": "lipschitz_sequential", "layer": "aol", "width": 16, "depth": 2,
                         "lipschitz": 2.0, "activation": "maxmin"},
                        SimpleNamespace(in_features=2, out_features=3)).eval()
    x = torch.randn(400, 2) * 3
    labels = model(x).argmax(1).detach()  # the model is right everywhere: margins decide
    eps = 0.05
    flags = certified(model(x).detach(), labels, eps, lipschitz=model.lipschitz_bound)
    assert 0 < flags.sum() < len(x)
    report = evaluate_certified(model, x, labels, [eps])
    assert report["accuracy"] == 1.0 and report[f"certified_acc/{eps:.4g}"] == flags.float().mean().item()
    delta = torch.zeros_like(x, requires_grad=True)
    for _ in range(30):
        m = margins(model(x + delta), labels).sum()
        (g,) = torch.autograd.grad(m, delta)
        with torch.no_grad():
            delta -= 0.02 * g / g.norm(dim=1, keepdim=True).clamp_min(1e-12)
            delta *= (eps / delta.norm(dim=1, keepdim=True).clamp_min(1e-12)).clamp(max=1.0)
    flipped = model(x + delta).argmax(1) != labels
    assert flipped.any(), "the attack should flip some uncertified points"
    assert not (flipped & flags).any()
    big = {"certified_acc/1": 0.0}
    unbounded = build_model({"name": "mlp", "width": 4, "depth": 1}, SimpleNamespace(in_features=2, out_features=3))
    assert {k: v for k, v in evaluate_certified(unbounded, x, labels, [1.0]).items() if k != "accuracy"} == big
