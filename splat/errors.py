"""The one exception type that means "the user gave us something we cannot use".

Every package raises it (or a subclass) for bad input so `main.py` and the GUI can show a
one-line message instead of a traceback; anything else escaping is a bug.
"""


class UserInputError(Exception):
    """Bad input from the user (files, flags, devices); the message is shown as-is."""
