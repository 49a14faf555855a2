"""Hypothesis over the override and sweep parsers: whatever text a user types, the answer is the
module's own error (ConfigError, SweepError) naming a key the user wrote, never another
exception. Keys are drawn from the schema's own keys, near misses and free text; values from
numbers (non-finite and huge ones included), literals, ranges, function calls and free text."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lipcore.config import ConfigError, validate
from lipcore.config.overrides import apply_overrides
from lipcore.config.schema import known_keys
from lipcore.sweep import SweepError, expand
from tests.reliability.tally import record

KEYS = known_keys()
EXAMPLES = 400
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
KEY = st.one_of(st.sampled_from(KEYS), st.sampled_from(KEYS).map(lambda k: k + "x"),
                st.sampled_from(KEYS).map(lambda k: k.rsplit(".", 1)[0]),
                st.from_regex(r"[a-z_]{1,8}(\.[a-z_]{1,8}){0,3}", fullmatch=True), TEXT)
NUMBER = st.one_of(st.integers(-10**30, 10**30), st.floats(allow_nan=True, allow_infinity=True))
VALUE = st.one_of(NUMBER.map(str), st.sampled_from(["nan", "inf", "-inf", "1e999", "null", "true",
                                                    "[1,2", "{a: 1}", "''", "0..1e12", "1..0"]), TEXT)
SPEC = st.one_of(VALUE, st.lists(VALUE, max_size=4).map(",".join),
                 st.tuples(NUMBER, NUMBER, NUMBER).map(lambda t: "..".join(map(str, t))),
                 st.tuples(st.sampled_from(["choice", "randint", "randfloat", "logfloat", "norm"]),
                           st.lists(VALUE, max_size=3)).map(lambda t: f"{t[0]}({','.join(t[1])})"),
                 st.lists(st.one_of(NUMBER, TEXT, st.none(), st.booleans()), max_size=4))
FAST = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
counts = {"overrides": 0, "sweeps": 0}


@FAST
@given(st.lists(st.tuples(KEY, VALUE), min_size=1, max_size=4), st.booleans())
def test_overrides_fail_only_with_a_config_error_naming_a_key(pairs, as_text):
    counts["overrides"] += 1
    items = [f"{k}={v}" for k, v in pairs] if as_text else {k: v for k, v in pairs}
    named = {k.strip() for k, _ in pairs} | {f"{k}={v}" for k, v in pairs}
    try:
        validate(apply_overrides({}, items))
    except ConfigError as e:
        assert e.issues and all(any(i.key == n or i.key.startswith(n + ".") or n.startswith(i.key)
                                    or i.key in ("config", "") for n in named) for i in e.issues), \
            [(i.key, i.message) for i in e.issues]


@FAST
@given(st.dictionaries(KEY, SPEC, min_size=1, max_size=3), st.booleans(), st.integers(0, 5))
def test_sweep_specs_fail_only_with_a_sweep_error_naming_a_key(params, randomised, samples):
    counts["sweeps"] += 1
    random = {"samples": samples, "seed": 0} if randomised else None
    try:
        expand(params, random=random, max_runs=1000)
    except SweepError as e:
        assert e.key in params or e.key in ("zip", "random.samples", "params"), (e.key, str(e))


def test_zz_record():
    record("Bad input", "hypothesis: random override lists and sweep specs into the parsers",
           tried=counts["overrides"] + counts["sweeps"],
           sees="ConfigError / SweepError naming the key (CLI message, API 422); no other exception")
    assert counts["overrides"] >= EXAMPLES and counts["sweeps"] >= EXAMPLES
