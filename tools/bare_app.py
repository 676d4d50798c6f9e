"""The benchmark's yardstick: a bare Flask JSON endpoint, served like the registration service.

`gunicorn tools.bare_app:app` with the same settings as the service gives the cost of
gunicorn + Flask + JSON alone; the benchmark reports registration throughput as a ratio to it.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, jsonify, request

app = Flask(__name__)


@app.post("/api/v1/bare")
def bare() -> Any:
    """Parse the JSON body and answer with a small JSON document, like a registration does."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(422)
    return jsonify(id=len(data), status="created"), 201


@app.get("/healthz")
def healthz() -> Any:
    return jsonify(status="ok", service="bare")
