"""Error types that carry a one-line message meant for the user.

`UserError` is bad input (a missing file, a corrupt bundle, an interpreter that is not
Python): the CLI prints its message on one line and exits 2; the GUI shows it in the window.
Anything else escaping to the CLI is an internal error (exit 1).
"""


class UserError(Exception):
    """Bad input: the message is one line saying what is wrong and what to do."""


class BundleError(UserError):
    """A bundle file cannot be read; the message names the file and the problem."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
