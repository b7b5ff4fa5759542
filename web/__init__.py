"""The web app: theme pages, the JSON API and offline API docs (FastAPI + Jinja2)."""
