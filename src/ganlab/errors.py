"""Exception types shared by the package.

User-input errors (config, data files, checkpoints, CLI arguments) derive from
``UserInputError``; the CLI reports them without a traceback and exits with code 2.
"""


class UserInputError(Exception):
    """Bad input from the user: the message names the offending thing and the fix."""


class ConfigError(UserInputError):
    """A configuration file, key or value is invalid."""


class DataError(UserInputError):
    """A data folder or data file cannot be used."""


class TrainingFailure(RuntimeError):
    """Training cannot go on (e.g. repeated NaN losses); the message says what to try.

    The CLI reports it without a traceback and exits with code 1.
    """


class OutputError(UserInputError):
    """A file cannot be written (folder not writable, disk full); the previous file is kept."""


class CheckpointError(UserInputError):
    """A checkpoint file is missing, unreadable or does not fit the configured model."""


class ArgumentError(UserInputError):
    """A command-line or API argument is invalid (e.g. a tile smaller than twice its overlap)."""
