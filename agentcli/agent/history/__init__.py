"""The file history: scanning for changes, the tracker, rollback and diff."""
