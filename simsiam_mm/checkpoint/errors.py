"""Why a checkpoint was refused."""
import pickle


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint asks for something that could run code: a type outside
    the allow-list, a format only full unpickling reads, or an embedded
    config that is not plain data. The message names the file."""


class CheckpointSizeError(UnsafeCheckpointError):
    """A checkpoint declares more memory than the size limit allows, or
    more than its file can hold. Raised before anything is allocated."""
