"""Conv internals against brute force: the FFT circular convolution equals conv2d with
circular padding; SOC's operator is exactly skew with zero padding; AOL's Gram over shifts is
the dense operator's; FFT layers stay orthogonal on images smaller than the kernel."""
import pytest
import torch
import torch.nn.functional as F

from lipcore.layers import CONV_LAYERS
from lipcore.layers.aol import conv_gram
from lipcore.layers.cayley import apply_per_frequency, fft_kernel
from tests.lipcore.layers.jacobian import jacobian, singular_values


@pytest.mark.parametrize("k,h,w", [(3, 5, 4), (5, 6, 6), (3, 3, 3)])
def test_fft_convolution_equals_circular_conv2d(k, h, w):
    torch.manual_seed(0)
    kern = torch.randn(3, 2, k, k, dtype=torch.float64)
    x = torch.randn(2, 2, h, w, dtype=torch.float64)
    p = k // 2
    expected = F.conv2d(F.pad(x, (p, p, p, p), mode="circular"), kern)
    torch.testing.assert_close(apply_per_frequency(x, fft_kernel(kern, h, w), 3), expected)


def test_soc_skew_operator_is_exactly_skew():
    torch.manual_seed(0)
    k = torch.randn(3, 3, 3, 3, dtype=torch.float64)
    a = k - k.transpose(0, 1).flip(-1, -2)
    j = jacobian(lambda x: F.conv2d(x, a, padding=1), torch.randn(3, 5, 5, dtype=torch.float64))
    torch.testing.assert_close(j, -j.t())


def test_conv_gram_is_the_dense_gram():
    """Row i of Σ_shifts|KᵀK| bounds the dense WᵀW's row sums (equality away from the border)."""
    torch.manual_seed(0)
    k = torch.randn(2, 3, 3, 3, dtype=torch.float64)
    wmat = jacobian(lambda x: F.conv2d(x, k, padding=1), torch.zeros(3, 7, 7, dtype=torch.float64))
    dense = (wmat.t() @ wmat).abs().sum(1).reshape(3, 7, 7)
    bound = conv_gram(k).abs().sum(dim=(1, 2, 3))
    assert torch.all(dense <= bound[:, None, None] + 1e-12)
    torch.testing.assert_close(dense[:, 3, 3], bound)  # the centre pixel sees every shift


@pytest.mark.parametrize("size", [1, 2, 3])
@pytest.mark.parametrize("name", ["bcop", "cayley", "lot", "soc", "aol", "cpl", "sll"])
def test_conv_layers_on_images_smaller_than_the_kernel(name, size):
    torch.manual_seed(0)
    layer = CONV_LAYERS[name](2, 3, 5).double()
    for training in (True, False):
        layer.train(training)
        s = singular_values(layer, torch.randn(2, size, size, dtype=torch.float64))
        assert s[0] <= 1 + 1e-6
        if layer.isometry:
            assert s[-1] >= 1 - 1e-3
