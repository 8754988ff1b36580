"""vidfiqa: face-image-quality analytics on video."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vidfiqa")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
