"""Celery entry point: `celery -A services.notifier.worker worker -Q notifier`."""

from services.notifier.app import create_app

celery_app = create_app().extensions["celery"]
