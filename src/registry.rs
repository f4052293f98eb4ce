//! The table of dbm formats pydbm can open, by Python module name.

use pydbm_engine::Format;

/// The Python module names pydbm knows, in CPython 3.13's preference order for new files.
pub const MODULES: [&str; 4] = ["dbm.sqlite3", "dbm.gnu", "dbm.ndbm", "dbm.dumb"];

/// Every implemented format, by Python module name. A format is listed once it lands.
static FORMATS: &[(&str, &dyn Format)] = &[
    ("dbm.gnu", &pydbm_formats::gnu::FORMAT),
    ("dbm.ndbm", &pydbm_formats::ndbm::FORMAT),
    ("dbm.sqlite3", &pydbm_sqlite::FORMAT),
    ("dbm.dumb", &pydbm_formats::dumb::FORMAT),
];

/// The format implementing Python module `module` (`"dbm.gnu"`, `"dbm.ndbm"`, `"dbm.dumb"`,
/// `"dbm.sqlite3"`; the `dbm.` prefix is optional), or `None` when pydbm does not (yet)
/// implement it or the name is unknown. `"etcd"` names the etcd backend in a build with
/// the `etcd` feature.
pub fn format_for(module: &str) -> Option<&'static dyn Format> {
    #[cfg(feature = "etcd")]
    if module == crate::remote::ETCD_MODULE {
        return Some(&pydbm_etcd::FORMAT);
    }
    let name = module.strip_prefix("dbm.").unwrap_or(module);
    FORMATS
        .iter()
        .find(|(m, _)| m.strip_prefix("dbm.") == Some(name))
        .map(|&(_, f)| f)
}
