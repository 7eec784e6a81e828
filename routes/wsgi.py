"""The WSGI entry point for gunicorn: `gunicorn routes.wsgi:app`."""
from routes.app import create_app

app = create_app()
