"""Weight matching (Ainsworth et al., git re-basin) for MLPs of any depth.

An MLP is a chain of `nn.Linear` layers W_1 … W_L with elementwise activations between them, so
permuting the units of hidden layer l (rows of W_l, b_l and columns of W_{l+1}) leaves the
function unchanged. Weight matching picks the permutations P_l of model B that maximise
Σ_l ⟨W_A,l, P_l W_B,l P_{l−1}ᵀ⟩ + ⟨b_A,l, P_l b_B,l⟩ by coordinate descent: for one layer, with
the others fixed, the best P_l solves a linear assignment on

    C_l = W_A,l P_{l−1} W_B,lᵀ + b_A,l b_B,lᵀ + W_A,l+1ᵀ P_{l+1} W_B,l+1

(`scipy.optimize.linear_sum_assignment(C, maximize=True)`); sweeps over the layers in a random
order repeat until no permutation changes. A permutation is an index array `perm` with
(P M)[i] = M[perm[i]].
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn


def linear_chain(model: nn.Module) -> list[tuple[str, str | None]]:
    """(weight key, bias key or None) of each Linear, in order; ValueError if not a plain MLP."""
    chain, owned = [], set()
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Linear):
            prefix = f"{name}." if name else ""
            bias = f"{prefix}bias" if mod.bias is not None else None
            chain.append((f"{prefix}weight", bias, mod.in_features, mod.out_features))
            owned |= {f"{prefix}weight", bias}
    others = [n for n, _ in model.named_parameters() if n not in owned]
    if not chain or others:
        raise ValueError("connectivity.align: weight matching supports MLPs made of nn.Linear "
                         f"layers only; this model also has {', '.join(others[:3]) or 'no Linear'}")
    for (w, _, _, out_f), (w2, _, in_f, _) in zip(chain, chain[1:]):
        if out_f != in_f:
            raise ValueError(f"connectivity.align: {w} outputs {out_f} features but {w2} takes "
                             f"{in_f}; weight matching needs a chain of Linear layers")
    return [(w, b) for w, b, _, _ in chain]


def _cost(chain, a, b, perms, l):
    w, bias = chain[l]
    wb = b[w] if l == 0 else b[w][:, perms[l - 1]]
    c = a[w] @ wb.T
    if bias is not None:
        c = c + torch.outer(a[bias], b[bias])
    w_next = chain[l + 1][0]
    nb = b[w_next] if l + 1 == len(perms) else b[w_next][perms[l + 1]]
    return c + a[w_next].T @ nb


def weight_matching(model: nn.Module, state_a: dict, state_b: dict, max_sweeps: int = 100,
                    seed: int = 0) -> tuple[list[np.ndarray], int]:
    """Permutations (one per hidden layer) aligning B to A, and the number of sweeps used."""
    chain = linear_chain(model)
    a = {k: v.detach().double().cpu() for k, v in state_a.items()}
    b = {k: v.detach().double().cpu() for k, v in state_b.items()}
    perms = [np.arange(a[w].shape[0]) for w, _ in chain[:-1]]
    rng = np.random.default_rng(seed)
    sweeps = 0
    for sweeps in range(1, max_sweeps + 1):
        changed = False
        for l in rng.permutation(len(perms)):
            _, col = linear_sum_assignment(_cost(chain, a, b, perms, l).numpy(), maximize=True)
            if not np.array_equal(col, perms[l]):
                perms[l], changed = col, True
        if not changed:
            break
    return perms, sweeps


def permute_state(model: nn.Module, state: dict, perms: list[np.ndarray]) -> dict:
    """`state` with hidden units permuted: W_l ← P_l W_l P_{l−1}ᵀ, b_l ← P_l b_l."""
    chain = linear_chain(model)
    out = {k: v.clone() for k, v in state.items()}
    for l, (w, bias) in enumerate(chain):
        t = out[w]
        if l < len(perms):
            t = t[torch.as_tensor(perms[l])]
            if bias is not None:
                out[bias] = out[bias][torch.as_tensor(perms[l])]
        if l > 0:
            t = t[:, torch.as_tensor(perms[l - 1])]
        out[w] = t
    return out
