"""liplab's REST API and SQL store (FastAPI + SQLAlchemy 2). Imports no torch and no worker code."""
