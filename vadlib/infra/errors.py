"""One exception family, so stages can print a clean one-line message instead of a traceback."""


class VadlibError(Exception):
    """A problem the user can fix (bad params, missing data, diverged run, bad checkpoint)."""


class ConfigError(VadlibError):
    """params.yaml does not match the schema; the message lists every problem, one per line."""


class DataError(VadlibError):
    """Fashion-MNIST files are missing, truncated, corrupted or not what the params ask for."""


class DivergenceError(VadlibError):
    """A loss became NaN or infinite; raised before anything is written."""


class CheckpointError(VadlibError):
    """A checkpoint is unreadable or belongs to another architecture or latent layout."""


class Interrupted(VadlibError):
    """The user stopped a run (Ctrl-C or SIGTERM); the message says where and how to resume."""
