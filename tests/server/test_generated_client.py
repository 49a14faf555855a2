"""A client generated from the OpenAPI document (datamodel-code-generator's pydantic models)
imports, builds a submission and reads real answers back: a run round-trips through it."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from datetime import timedelta

import pytest

from tests.server.helpers import QUICK


@pytest.fixture
def models(app, tmp_path):
    doc = tmp_path / "openapi.json"
    doc.write_text(json.dumps(app.openapi()))
    out = tmp_path / "liplab_models.py"
    subprocess.run([sys.executable, "-m", "datamodel_code_generator", "--input", str(doc),
                    "--input-file-type", "openapi", "--output", str(out),
                    "--output-model-type", "pydantic_v2.BaseModel"], check=True, capture_output=True)
    spec = importlib.util.spec_from_file_location("liplab_models", out)
    module = importlib.util.module_from_spec(spec)
    sys.modules["liplab_models"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("liplab_models", None)


@pytest.mark.slow
def test_a_run_round_trips_through_the_generated_models(client, models):
    submission = models.RunCreate.model_validate({"name": "generated", "config": QUICK})
    r = client.post("/runs", json=submission.model_dump(mode="json", exclude_unset=True))
    assert r.status_code == 201
    created = models.RunCreated.model_validate(r.json())
    run = models.RunPublic.model_validate(client.get(f"/runs/{created.id}").json())
    assert run.name == "generated" and run.status == "queued"
    assert run.config.model.width == QUICK["model"]["width"]
    assert run.config.model.name.value == "mlp"  # a registered name, as an enum member
    assert run.created_at.utcoffset() == timedelta(0)
    page = models.RunsPublic.model_validate(client.get("/runs").json())
    assert [r.id for r in page.items] == [created.id]
    bad = client.post("/runs", json={})
    assert models.HTTPValidationError.model_validate(bad.json()).detail[0].loc == ["body", "config"]
    missing = client.get("/runs/999")
    assert missing.status_code == 404 and models.ErrorMessage.model_validate(missing.json()).detail
