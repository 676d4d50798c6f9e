"""gunicorn entry point: `gunicorn services.registration.wsgi:app`."""

from services.registration.app import create_app

app = create_app()
