"""`lipcore.batched_grads`: placeholders resolved together equal each one's own product."""
import torch

from lipcore.batched_grads import Gram, RowSum, resolve


def test_grams_and_row_sums_of_mixed_shapes_equal_their_direct_products():
    g = torch.Generator().manual_seed(0)

    def r(*shape):
        return torch.randn(*shape, dtype=torch.float64, generator=g)

    grams = [((r(6, 3), r(6, 5)), (r(2, 4, 3), r(2, 4, 5))) for _ in range(3)] + [((r(6, 2), r(6, 7)),)]
    sums = [r(6, 3) for _ in range(2)]
    plain = torch.ones(2)
    grads = [Gram(*pairs) for pairs in grams] + [None, plain] + [RowSum(x) for x in sums]
    out = resolve(grads)
    for got, pairs in zip(out, grams):
        expected = sum(a.reshape(-1, a.shape[-1]).T @ b.reshape(-1, b.shape[-1]) for a, b in pairs)
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    assert out[len(grams)] is None and out[len(grams) + 1] is plain
    for got, x in zip(out[len(grams) + 2:], sums):
        torch.testing.assert_close(got, x.sum(0), rtol=1e-12, atol=1e-12)
