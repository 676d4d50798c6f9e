"""Celery entry point: `celery -A services.registration.worker worker -Q registration`."""

from services.registration.app import create_app

celery_app = create_app().extensions["celery"]
