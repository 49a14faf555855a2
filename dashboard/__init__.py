"""The Dash dashboard: reads liplab's REST API, never the database, never torch."""
