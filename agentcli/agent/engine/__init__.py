"""The engine: one session's agent behind operations in and events out (see ``engine.py``)."""
