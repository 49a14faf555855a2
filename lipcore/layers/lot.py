"""LOT, layer-wise orthogonal training (Xu et al. 2022): per FFT frequency ω the kernel's
matrix W(ω) is replaced by (W Wᴴ)^-½ W, the inverse square root by Newton–Schulz.

A finite Newton–Schulz run is only approximately unitary, so the per-frequency matrices are
then divided by max(1, max_ω σ_max) computed exactly (SVD): the circular convolution's norm is
exactly that maximum, so the bound 1 holds after any number of iterations (10 train, 20 eval).
"""
from __future__ import annotations

import torch

from lipcore.layers import functional as LF
from lipcore.layers.base import CONV_LAYERS, ConvLayer, pad_features
from lipcore.layers.cayley import apply_per_frequency, fft_kernel


@CONV_LAYERS.register("lot")
class LOTConv2d(ConvLayer):
    """(B, C_in, H, W) → (B, C_out, H, W), circular; bound 1 (near-isometry)."""

    train_iters = 10
    eval_iters = 20

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, bias)
        with torch.no_grad():  # near identity, so Newton–Schulz starts well conditioned
            self.weight.mul_(0.1)
            self.weight[range(self.n), range(self.n), kernel_size // 2, kernel_size // 2] += 1.0

    def frequency_matrices(self, h: int, w: int, iters: int) -> torch.Tensor:
        wf = fft_kernel(self.weight, h, w)  # (H, W', n, n)
        scale = (wf.abs() ** 2).sum(dim=(-2, -1), keepdim=True).clamp_min(1e-12)  # ‖W(ω)‖_F²
        inv_sqrt = LF.newton_schulz_inv_sqrt(wf @ wf.transpose(-2, -1).conj() / scale, iters)
        q = inv_sqrt @ wf / scale.sqrt()
        top = torch.linalg.matrix_norm(q.detach(), ord=2).max()
        return q / top.clamp_min(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        it = self.train_iters if self.training else self.eval_iters
        q = self.cached(lambda: self.frequency_matrices(h, w, it), key=(h, w, it))
        return self.add_bias(apply_per_frequency(pad_features(x, self.n, dim=1), q, self.out_channels))
