"""Files the browser fetches from the dashboard, which gets them over the API: an artifact
(so pictures and checkpoints download with the dashboard's token and address) and a run's
config as YAML (for the copy-as-CLI lines of the run page)."""
from __future__ import annotations

from flask import Flask, Response

from dashboard import client, rerun


def register(server: Flask) -> None:
    @server.route("/files/artifacts/<int:artifact_id>")
    def artifact(artifact_id: int) -> Response:
        r = client.raw(f"/artifacts/{artifact_id}")
        headers = {k: v for k, v in r.headers.items() if k.lower() in ("content-type", "content-disposition")}
        return Response(r.content, status=r.status_code, headers=headers)

    @server.route("/files/runs/<int:run_id>/config.yaml")
    def run_config(run_id: int) -> Response:
        return Response(rerun.config_yaml(client.run(run_id)), mimetype="application/yaml",
                        headers={"Content-Disposition": f"attachment; filename=run-{run_id}.yaml"})
