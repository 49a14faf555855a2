"""Sweep expansion against hand-written expectations."""
import pytest

from lipcore.sweep import SweepError, expand


def test_lists_and_ranges():
    assert expand({"a": "0..100"})[-1] == {"a": 99} and len(expand({"a": "0..100"})) == 100
    assert [r["a"] for r in expand({"a": "0..100..10"})] == list(range(0, 100, 10))
    assert [r["a"] for r in expand({"a": "0.001,0.01"})] == [0.001, 0.01]


def test_cartesian_product_and_zip():
    runs = expand({"a": "1,2,3", "b": "x,y,z"})
    assert len(runs) == 9
    zipped = expand({"a": "1,2,3", "b": "x,y,z"}, zip=[["a", "b"]])
    assert zipped == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}, {"a": 3, "b": "z"}]


def test_zip_of_unequal_lengths_names_the_keys():
    with pytest.raises(SweepError, match="a has 2, b has 3"):
        expand({"a": "1,2", "b": "1,2,3"}, zip=[["a", "b"]])


def test_random_search_is_reproducible_and_in_range():
    params = {"lr": "logfloat(1e-4,1e-1)", "k": "randint(1,3)", "c": "choice(a,b)",
              "u": "randfloat(-1,1)"}
    runs = expand(params, random={"samples": 200, "seed": 7})
    assert runs == expand(params, random={"samples": 200, "seed": 7})
    assert runs != expand(params, random={"samples": 200, "seed": 8})
    assert all(1e-4 <= r["lr"] <= 1e-1 and -1 <= r["u"] <= 1 for r in runs)
    assert {r["k"] for r in runs} == {1, 2, 3} and {r["c"] for r in runs} == {"a", "b"}


def test_random_function_without_random_mode_is_an_error():
    with pytest.raises(SweepError, match="lr"):
        expand({"lr": "logfloat(1e-4,1e-1)"})


def test_size_limit_is_checked_before_expanding():
    from lipcore.sweep import SweepTooLarge

    with pytest.raises(SweepTooLarge, match="1000000 runs"):  # 1000 x 1000 never materialised
        expand({"a": "0..1000", "b": "0..1000"}, max_runs=10_000)
    with pytest.raises(SweepTooLarge, match="random.samples"):
        expand({"a": "randint(0,5)"}, random={"samples": 50}, max_runs=10)
    assert len(expand({"a": "0..100", "b": "0..100"}, max_runs=10_000)) == 10_000


def test_runaway_and_malformed_ranges_name_the_key():
    with pytest.raises(SweepError, match="^a: .*more than"):
        expand({"a": "0..1e12"})
    with pytest.raises(SweepError, match="^a: .*finite"):
        expand({"a": "0..1e999"})
    with pytest.raises(SweepError, match="never ends"):
        expand({"a": "5..0"})
    with pytest.raises(SweepError, match="^zip: "):
        expand({"a": "1,2"}, zip=[[]])


def test_float_ranges_and_zip_with_a_third_axis():
    assert [r["lr"] for r in expand({"lr": "0.1..0.5..0.1"})] == [0.1, 0.2, 0.3, 0.4]
    runs = expand({"w": "8,16", "lr": "0.1,0.2", "seed": "0..3"}, zip=[["w", "lr"]])
    assert runs == [{"w": 8, "lr": 0.1, "seed": s} for s in range(3)] + \
        [{"w": 16, "lr": 0.2, "seed": s} for s in range(3)]
