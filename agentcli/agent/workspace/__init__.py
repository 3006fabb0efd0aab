"""The workspace: the path jail, planned edits, walks that honour .gitignore. No SQL."""
