"""The project's own error type: every user-facing failure raises it (CLI exit code 2)."""


class PolistanceError(Exception):
    """A problem the user can fix (bad file, bad argument, missing model); shown without a traceback."""
