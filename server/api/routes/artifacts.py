"""/runs/{id}/artifacts and /runs/{id}/probes: files a run produced, probe jobs and results."""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse
from sqlalchemy import select

from lipcore.config.files import probe_file_values
from server import crud, probes
from server.artifact_store import local_copy
from server.api.deps import IdPath, QueueDep, ReadAuth, SessionDep, SettingsDep, WriteAuth
from server.api.openapi import CONFLICT
from server.artifact_types import FILE_RESPONSES, media_type
from server.errors import body_422
from server.api.routes.runs import get_run_or_404
from server.models import Artifact, ProbeJob
from server.paths import allowed_roots, outside
from server.schemas import ArtifactPublic, ProbeJobPublic, ProbeRequest, ProbesPublic

router = APIRouter(tags=["artifacts"])


@router.get("/runs/{run_id}/artifacts", response_model=list[ArtifactPublic], dependencies=[ReadAuth])
def list_artifacts(run_id: IdPath, db: SessionDep) -> list[ArtifactPublic]:
    """Checkpoints, figures and probe results of a run."""
    get_run_or_404(db, run_id)
    rows = db.scalars(select(Artifact).where(Artifact.run_id == run_id).order_by(Artifact.id))
    return [ArtifactPublic.model_validate(a) for a in rows]


@router.get("/artifacts/{artifact_id}", dependencies=[ReadAuth], response_class=FileResponse,
            responses=FILE_RESPONSES)
def download_artifact(artifact_id: IdPath, db: SessionDep, settings: SettingsDep) -> FileResponse:
    """The artifact's file (only files under LIPLAB_ARTIFACT_DIR are served)."""
    art = db.get(Artifact, artifact_id)
    if art is None:
        raise HTTPException(404, f"artifact {artifact_id} not found")
    path = local_copy(settings, art.run_id, art.path).resolve()
    root = Path(settings.artifacts).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise HTTPException(404, f"artifact {artifact_id} has no file under the artifact folder")
    return FileResponse(path, filename=path.name, media_type=media_type(path))


@router.get("/runs/{run_id}/probes", response_model=ProbesPublic, dependencies=[ReadAuth])
def read_probes(run_id: IdPath, db: SessionDep) -> ProbesPublic:
    """The run's probe jobs and the stored result of each probe."""
    get_run_or_404(db, run_id)
    jobs = db.scalars(select(ProbeJob).where(ProbeJob.run_id == run_id).order_by(ProbeJob.id))
    return ProbesPublic(jobs=[ProbeJobPublic.model_validate(j) for j in jobs],
                        results=probes.probe_results(db, run_id))


@router.post("/runs/{run_id}/probes", status_code=202, response_model=ProbeJobPublic,
             dependencies=[WriteAuth], responses=CONFLICT)
def submit_probes(run_id: IdPath, body: ProbeRequest, db: SessionDep, queue: QueueDep,
                  settings: SettingsDep) -> ProbeJobPublic:
    """Run named probes on a succeeded run's checkpoints, through the workers."""
    run = get_run_or_404(db, run_id)
    for issue in outside(probe_file_values(body.params, "params."), allowed_roots(settings)):
        raise body_422(issue.key, issue.message)
    if run.status != "succeeded":
        raise HTTPException(409, f"run {run_id} is {run.status}; probes need a succeeded run")
    job = probes.create_probe_job(db, run_id=run_id, probes=body.probes, params=body.params)
    db.commit()
    queue.enqueue_probe(run_id, body.probes, body.params, crud.queue_for(run.config))
    return ProbeJobPublic.model_validate(job)
