"""Re-associated linear prefixes (`linear_prefix`): where they are taken, and that the forward
and the second-order jets through them equal the step-by-step chain (itself checked against
each member alone in test_stacked_pack.py), float64."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from lipcore.models.deep_linear import DeepLinear
from lipcore.models.mlp import MLP
from lipcore.training import stacked_jets, stacked_rules
from lipcore.training.linear_prefix import reassociated
from lipcore.training.stacked_jets import jet_plan
from tests.lipcore.training.test_pack import float64  # noqa: F401 - autouse
from tests.lipcore.training.test_stacked_pack import seeded, stack


def deep_linear() -> DeepLinear:
    return DeepLinear(8, 8, 16, 2, 1.0)  # 8 → 16 → 16 → 8, bias-free


def test_the_whole_deep_linear_chain_is_taken_for_many_rows_and_none_for_few():
    modules = list(deep_linear().blocks)
    assert reassociated(modules, 8, 256) == 3
    assert reassociated(modules, 8, 1) == 0  # one row: the basis costs 8 rows
    assert reassociated(modules, 8, 8) == 0  # as many rows as the basis: nothing saved


def test_a_bias_or_an_activation_ends_the_prefix():
    assert reassociated(list(MLP(8, 8, 16, 2, "tanh").blocks), 8, 256) == 0  # biased first map
    chain = [nn.Linear(8, 64, bias=False), nn.Identity(), nn.Linear(64, 64, bias=False),
             nn.Tanh(), nn.Linear(64, 8, bias=False)]
    assert reassociated(chain, 8, 256) == 3
    chain[2] = nn.Linear(64, 64)  # 8 → 64 alone: the basis and x·M cost more than the rows
    assert reassociated(chain, 8, 256) == 0
    narrowing = [nn.Linear(8, 64, bias=False), nn.Identity(), nn.Linear(64, 8, bias=False),
                 nn.Linear(8, 64), nn.Linear(64, 8, bias=False)]
    assert reassociated(narrowing, 8, 256) == 3
    assert reassociated([nn.Linear(4, 8, bias=False)], 8, 256) == 0  # widths that do not chain


def no_prefix(monkeypatch):
    monkeypatch.setattr(stacked_rules.linear_prefix, "reassociated", lambda *a: 0)
    monkeypatch.setattr(stacked_jets, "reassociated", lambda *a: 0)


@pytest.mark.parametrize("shared", [True, False])
def test_forward_and_jets_equal_the_step_by_step_chain(shared, monkeypatch):
    torch.manual_seed(0)
    models = [seeded(deep_linear, s) for s in range(3)]
    params = stack(models)
    plan = stacked_rules.plan(models[0])
    jets = jet_plan(plan, nn.MSELoss())
    x = torch.randn(64, 8) if shared else torch.randn(3, 64, 8)
    y = torch.randn(64, 8) if shared else torch.randn(3, 64, 8)
    directions = {n: torch.randn(3, 5, *t.shape[1:]) for n, t in params.items()}
    out = plan.forward(params, x, 1, shared)
    second = jets.second(params, directions, x, y, nn.MSELoss(), shared)
    alone = [m(x if shared else x[i]) for i, m in enumerate(models)]
    torch.testing.assert_close(out, torch.stack(alone), rtol=1e-12, atol=1e-12)
    no_prefix(monkeypatch)
    torch.testing.assert_close(plan.forward(params, x, 1, shared), out, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(jets.second(params, directions, x, y, nn.MSELoss(), shared), second,
                               rtol=1e-10, atol=1e-12)


def test_the_prefix_ends_where_a_later_step_needs_the_rows(monkeypatch):
    """A bias-free map, then a biased one and an activation: only the first is re-associated
    and the rest runs on its rows; equal to the step by step chain."""
    def make():
        return nn.Sequential(nn.Linear(6, 48, bias=False), nn.Linear(48, 48, bias=False),
                             nn.Linear(48, 32), nn.Tanh(), nn.Linear(32, 4))

    class Chain(nn.Module):
        chain_forward = True

        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([make()])

        def forward(self, x):
            return self.blocks[0](x.flatten(1))

    stacked_rules.chain_model(Chain)
    torch.manual_seed(1)
    models = [seeded(Chain, s) for s in range(2)]
    plan = stacked_rules.plan(models[0])
    assert reassociated([s.module for s in plan.steps], 6, 100) == 2
    params = stack(models)
    x = torch.randn(100, 6)
    out = plan.forward(params, x, 1, True)
    torch.testing.assert_close(out, torch.stack([m(x) for m in models]), rtol=1e-12, atol=1e-12)
