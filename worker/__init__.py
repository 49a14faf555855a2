"""Celery workers that run lipcore jobs and stream their metrics into the SQL store."""
