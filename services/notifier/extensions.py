"""The notifier service's extensions: created here unbound, bound to the app in `create_app`.

Blueprints, commands and tasks import them from here, never from the app factory.
"""

from __future__ import annotations

from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

from shared.db import Database
from shared.http import OrganiserAuth

SERVICE = "notifier"
db = Database()
organiser_auth = OrganiserAuth()
csrf = CSRFProtect()
babel = Babel()
