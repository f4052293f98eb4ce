//! `dbm.whichdb`: which module made a file.
