"""Demo and benchmark data: a believable county with its people, cameras and a year of events.

``seed_county`` composes the tables of dispatch/ (jurisdictions, users, events and their timelines) and
stream/ (cameras), which is why it lives in hub/. ``county.py`` builds the jurisdiction tree with nested
boundaries, the accounts and the cameras; ``events.py`` draws the events and walks each one along the
workflow table; ``loader.py`` writes them (COPY on PostgreSQL, batched inserts on SQLite).
"""

from hub.seed.demo import demo_passwords
from hub.seed.loader import DEMO_LOGINS, DemoLogin, SeedError, SeedReport, seed_county

__all__ = ["DEMO_LOGINS", "DemoLogin", "SeedError", "SeedReport", "demo_passwords", "seed_county"]
