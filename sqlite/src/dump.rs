//! `Connection.iterdump()` (spec §1.2): SQL text that recreates a database, in the order
//! and form of CPython 3.13's `sqlite3.dump` (same as 3.11 for plain tables).

use rusqlite::Connection;

use crate::error::{Error, Result};

fn quote_name(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote_value(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

type Schema = Vec<(String, String, String)>;

fn schema(db: &Connection, types: &str, filter: Option<&str>, order: bool) -> Result<Schema> {
    let mut q = format!(
        "SELECT \"name\", \"type\", \"sql\" FROM \"sqlite_master\" WHERE \"sql\" NOT NULL AND \"type\" {types}"
    );
    if filter.is_some() {
        q.push_str(" AND \"name\" LIKE ?");
    }
    if order {
        q.push_str(" ORDER BY \"name\"");
    }
    let mut st = db.prepare(&q)?;
    let params: Vec<&str> = filter.into_iter().collect();
    let rows = st.query_map(rusqlite::params_from_iter(params), |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    rows.collect::<rusqlite::Result<Vec<_>>>()
        .map_err(Error::from)
}

/// Every statement of the dump, each ending in `;`, from `BEGIN TRANSACTION;` to `COMMIT;`.
/// `filter` is a `LIKE` pattern on object names (3.13).
pub fn iterdump(db: &Connection, filter: Option<&str>) -> Result<Vec<String>> {
    let mut out = vec!["BEGIN TRANSACTION;".to_string()];
    let violations = {
        let mut st = db.prepare("PRAGMA foreign_key_check")?;
        let mut rows = st.query([])?;
        rows.next()?.is_some()
    };
    if violations {
        out.push("PRAGMA foreign_keys=OFF;".into());
    }
    let mut writable_schema = false;
    let mut sequence = Vec::new();
    for (table, _ty, sql) in schema(db, "== 'table'", filter, true)? {
        if table == "sqlite_sequence" {
            sequence.push("DELETE FROM \"sqlite_sequence\";".to_string());
            let mut st = db.prepare("SELECT * FROM \"sqlite_sequence\";")?;
            let rows = st
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for (name, seq) in rows {
                sequence.push(format!(
                    "INSERT INTO \"sqlite_sequence\" VALUES({},{seq});",
                    quote_value(&name)
                ));
            }
            continue;
        } else if table == "sqlite_stat1" {
            out.push("ANALYZE \"sqlite_master\";".into());
        } else if table.starts_with("sqlite_") {
            continue;
        } else if sql.starts_with("CREATE VIRTUAL TABLE") {
            if !writable_schema {
                writable_schema = true;
                out.push("PRAGMA writable_schema=ON;".into());
            }
            out.push(format!(
                "INSERT INTO sqlite_master(type,name,tbl_name,rootpage,sql)VALUES('table',{0},{0},0,{1});",
                quote_value(&table),
                quote_value(&sql)
            ));
        } else {
            out.push(format!("{sql};"));
        }
        let ident = quote_name(&table);
        let cols: Vec<String> = {
            let mut st = db.prepare(&format!("PRAGMA table_info({ident})"))?;
            let rows = st.query_map([], |r| r.get::<_, String>(1))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        let parts: Vec<String> = cols
            .iter()
            .map(|c| format!("||quote({})||", quote_name(c)))
            .collect();
        let q = format!(
            "SELECT 'INSERT INTO {ident} VALUES('{}')' FROM {ident};",
            parts.join("','")
        );
        let mut st = db.prepare(&q)?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        for r in rows {
            out.push(format!("{};", r?));
        }
    }
    for (_name, _ty, sql) in schema(db, "IN ('index', 'trigger', 'view')", filter, false)? {
        out.push(format!("{sql};"));
    }
    if writable_schema {
        out.push("PRAGMA writable_schema=OFF;".into());
    }
    out.extend(sequence);
    out.push("COMMIT;".into());
    Ok(out)
}
