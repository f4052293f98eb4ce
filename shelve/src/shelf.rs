//! `Shelf`: a persistent dictionary of pickled values over any `Dbm`.
