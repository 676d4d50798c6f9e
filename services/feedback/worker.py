"""Celery entry point: `celery -A services.feedback.worker worker -Q feedback`."""

from services.feedback.app import create_app
from services.feedback.tasks import register_tasks

celery_app = create_app().extensions["celery"]
register_tasks(celery_app)
