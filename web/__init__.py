"""The registry's web service (FastAPI). It imports `registry`; never the reverse."""
