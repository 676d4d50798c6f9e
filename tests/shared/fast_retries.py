"""Celery settings for test workers (CELERY_CONFIG_MODULE=tests.shared.fast_retries): the
consumers' back-off lowered from 5 s doubling to 4 minutes to 0.2 s doubling to 1 s."""

task_annotations = {"*": {"retry_backoff": 0.2, "retry_backoff_max": 1.0}}
