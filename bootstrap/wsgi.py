"""The WSGI entry point for gunicorn: `gunicorn bootstrap.wsgi:app`."""
from bootstrap.gateway import create_app

app = create_app()
