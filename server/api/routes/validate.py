"""/validate: check a config (and a sweep spec) without queuing anything; the submit form uses it."""
from __future__ import annotations

from fastapi import APIRouter

from lipcore.config import ConfigError, apply_overrides, validate
from lipcore.config.files import file_values
from lipcore.sweep import SweepError, expand
from server.api.deps import ReadAuth, SettingsDep
from server.paths import allowed_roots, confine
from server.schemas import IssuePublic, ValidateRequest, ValidateResult

router = APIRouter(tags=["validate"])


@router.post("/validate", response_model=ValidateResult, dependencies=[ReadAuth])
def validate_config(body: ValidateRequest, settings: SettingsDep) -> ValidateResult:
    """Issues with their dotted keys (empty when valid) and the number of runs a sweep expands to."""
    try:
        cfg = validate(body.config)
        confine(file_values(cfg), allowed_roots(settings))
    except ConfigError as e:
        return ValidateResult(valid=False, issues=[IssuePublic(key=i.key, message=i.message)
                                                   for i in e.issues])
    try:
        members = expand(body.params, zip=body.zip, max_runs=settings.max_runs_per_sweep,
                         random=body.random.model_dump() if body.random else None)
    except SweepError as e:
        return ValidateResult(valid=False, issues=[IssuePublic(key=e.key, message=str(e))], config=cfg)
    issues: list[IssuePublic] = []
    if not members:
        issues.append(IssuePublic(key="params", message="the sweep has no runs"))
    else:
        seen: set[tuple[str, str]] = set()
        for m in members:
            try:
                confine(file_values(validate(apply_overrides(cfg, m))), allowed_roots(settings))
            except ConfigError as e:
                for i in e.issues:
                    if (i.key, i.message) not in seen:
                        seen.add((i.key, i.message))
                        issues.append(IssuePublic(key=i.key, message=i.message))
    return ValidateResult(valid=not issues, issues=issues, n_runs=len(members), config=cfg)
