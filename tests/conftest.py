"""Shared test set-up: one torch thread (2-core CI), services found or skipped with a reason.

With CI=true a test that needs PostgreSQL, Redis, a worker or the browser fails when its
service is missing instead of skipping.
"""
