"""The durable-object layer: one SQLite file by name, lock, migrations, blobs.

It knows nothing about agents; the session layer builds on it.
"""
