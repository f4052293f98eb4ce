//! marshal: versions 0-5.
