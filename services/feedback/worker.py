"""Celery entry point: `celery -A services.feedback.worker worker -Q feedback`."""

from services.feedback.app import create_app

celery_app = create_app().extensions["celery"]
