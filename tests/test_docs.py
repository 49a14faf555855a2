"""The reference documents stay true to the code they describe."""
from __future__ import annotations

import re
from pathlib import Path

from lipcore.config.probes import PROBE_PARAMS
from lipcore.config.schema import known_keys

ROOT = Path(__file__).parents[1]


def test_configuration_reference_names_every_key_and_probe_parameter():
    text = (ROOT / "docs" / "configuration.md").read_text()
    missing = [k for k in known_keys() if f"`{k}`" not in text]
    assert not missing, f"docs/configuration.md lacks {missing}"
    for probe, fields in PROBE_PARAMS.items():
        section = text.split(f"### `{probe}`", 1)
        assert len(section) == 2, f"docs/configuration.md has no `{probe}` probe section"
        body = section[1].split("###", 1)[0]
        assert not [p for p in fields if f"`{p}`" not in body], f"probe {probe}: parameters missing"


def test_readme_links_the_reference_documents():
    readme = (ROOT / "README.md").read_text()
    for doc in ("docs/configuration.md", "docs/api.md", "docs/architecture.md"):
        assert f"({doc})" in readme, f"README.md does not link {doc}"


def test_every_file_the_architecture_names_exists():
    text = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"(?<![\w/<])((?:[a-z_]+/)+[\w.]*\.(?:py|md|yaml|css)|(?:[a-z_]+/)+)(?![\w<])",
                           text))
    assert len(named) > 40  # the picture and every recipe name their files
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"
