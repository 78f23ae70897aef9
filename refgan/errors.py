"""Errors meant for the user: the CLI prints them as one line, without a traceback."""


class UserError(Exception):
    """Bad input or a failed run the user can fix: the message says what and how."""
