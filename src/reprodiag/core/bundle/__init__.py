"""The portable run bundle `NAME.reprodiag.zip` (see docs/bundle-format.md)."""

from reprodiag.core.bundle.reader import Bundle, read_bundle
from reprodiag.core.bundle.writer import SUFFIX, bundle_path, write_bundle

__all__ = ["SUFFIX", "Bundle", "bundle_path", "read_bundle", "write_bundle"]
