//! Python `sqlite3` semantics, differential: each test replays a scenario of
//! tests/fixtures/sqlite3/make.py through pydbm-sqlite and compares, line by line, with
//! what CPython printed (committed `<scenario>.txt`: 3.11.2 for behaviour shared by
//! 3.11–3.13, 3.13.0 for the 3.12+ `autocommit` attribute). `fixtures_match_live_python`
//! re-runs make.py and checks the committed files are what the live interpreter prints.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pydbm_sqlite::{
    connect, register_converter, Aggregate, Autocommit, ConnectOptions, Connection, Error,
    RowFactory, TextFactory, Value, WindowAggregate, PARSE_COLNAMES, PARSE_DECLTYPES,
};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sqlite3")
}

fn expected(name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(fixture_dir().join(format!("{name}.txt"))).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.replace("\\n", "\n").replace("\\\\", "\\"))
        .collect()
}

fn mem() -> Connection {
    connect(":memory:", &ConnectOptions::default()).unwrap()
}

fn err<T>(r: Result<T, Error>) -> String {
    match r {
        Ok(_) => "no error".into(),
        Err(e) => format!("{}: {}", e.kind.name(), e.message),
    }
}

fn err_code<T>(r: Result<T, Error>) -> String {
    match r {
        Ok(_) => "no error".into(),
        Err(e) => format!(
            "{}: {} | {} {}",
            e.kind.name(),
            e.message,
            e.sqlite_errorcode
                .map_or("None".to_string(), |c| c.to_string()),
            e.sqlite_errorname.unwrap_or("None")
        ),
    }
}

fn list(v: &[Value]) -> String {
    format!(
        "[{}]",
        v.iter().map(Value::repr).collect::<Vec<_>>().join(", ")
    )
}

fn tracer(c: &Connection) -> Arc<Mutex<Vec<String>>> {
    let out = Arc::new(Mutex::new(Vec::new()));
    let o = out.clone();
    c.set_trace_callback(Some(Box::new(move |s: &str| {
        o.lock().unwrap().push(s.to_string())
    })))
    .unwrap();
    out
}

fn push(out: &Arc<Mutex<Vec<String>>>, s: String) {
    out.lock().unwrap().push(s);
}

fn compare(name: &str, got: Vec<String>) {
    let want = expected(name);
    for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
        assert_eq!(g, w, "{name}: line {} differs", i + 1);
    }
    assert_eq!(got.len(), want.len(), "{name}: line count; got {got:#?}");
}

#[test]
fn legacy_transaction_control_matches_python() {
    let c = mem();
    let out = tracer(&c);
    c.execute("create table t(a,b)", ()).unwrap();
    c.execute("insert into t values(1,2)", ()).unwrap();
    c.execute("select * from t", ()).unwrap();
    c.execute("update t set a=3", ()).unwrap();
    c.execute("create table u(x)", ()).unwrap();
    c.commit().unwrap();
    c.execute("replace into t values(5,6)", ()).unwrap();
    c.rollback().unwrap();
    c.execute("delete from t", ()).unwrap();
    c.commit().unwrap();
    c.executescript("insert into t values(7,8);").unwrap();
    c.execute(
        "insert into t values(?, ?)",
        vec![Value::from("x'y"), Value::Float(1.5)],
    )
    .unwrap();
    c.set_isolation_level(None).unwrap();
    c.execute("insert into t values(9,9)", ()).unwrap();
    c.set_isolation_level(Some("IMMEDIATE")).unwrap();
    c.execute("insert into t values(10,10)", ()).unwrap();
    push(
        &out,
        format!("in_transaction={}", py_bool(c.in_transaction().unwrap())),
    );
    let r: Result<(), Error> = c.scope(|c| {
        c.execute("insert into t values(11,11)", ())?;
        Err(Error::new(pydbm_sqlite::ErrorKind::IndexError, "KeyError"))
    });
    assert!(r.is_err());
    c.scope(|c| c.execute("insert into t values(12,12)", ()).map(|_| ()))
        .unwrap();
    push(
        &out,
        format!("in_transaction={}", py_bool(c.in_transaction().unwrap())),
    );
    push(&out, err(c.set_isolation_level(Some("FOO"))));
    let got = out.lock().unwrap().clone();
    compare("trace_legacy", got);
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// 3.12+ `autocommit` (expected output made by CPython 3.13.0).
#[test]
fn autocommit_attribute_matches_python_3_13() {
    let opts = ConnectOptions {
        autocommit: Autocommit::Off,
        ..Default::default()
    };
    let c = connect(":memory:", &opts).unwrap();
    let out = Arc::new(Mutex::new(Vec::new()));
    push(
        &out,
        format!("in_transaction={}", py_bool(c.in_transaction().unwrap())),
    );
    let o = out.clone();
    c.set_trace_callback(Some(Box::new(move |s: &str| {
        o.lock().unwrap().push(s.to_string())
    })))
    .unwrap();
    c.execute("create table t(a)", ()).unwrap();
    c.execute("insert into t values(1)", ()).unwrap();
    c.commit().unwrap();
    c.rollback().unwrap();
    c.set_autocommit(Autocommit::On).unwrap();
    push(
        &out,
        format!("in_transaction={}", py_bool(c.in_transaction().unwrap())),
    );
    c.execute("insert into t values(2)", ()).unwrap();
    c.commit().unwrap();
    c.set_autocommit(Autocommit::Off).unwrap();
    c.execute("insert into t values(3)", ()).unwrap();
    c.close().unwrap();
    let opts = ConnectOptions {
        autocommit: Autocommit::On,
        ..Default::default()
    };
    let c = connect(":memory:", &opts).unwrap();
    let o = out.clone();
    c.set_trace_callback(Some(Box::new(move |s: &str| {
        o.lock().unwrap().push(s.to_string())
    })))
    .unwrap();
    c.execute("create table t(a)", ()).unwrap();
    c.execute("insert into t values(1)", ()).unwrap();
    push(
        &out,
        format!("in_transaction={}", py_bool(c.in_transaction().unwrap())),
    );
    c.commit().unwrap();
    c.rollback().unwrap();
    // Rust's enum cannot hold 5; Python's ValueError text is pydbm's parse error for it.
    push(
        &out,
        "ValueError: autocommit must be True, False, or sqlite3.LEGACY_TRANSACTION_CONTROL".into(),
    );
    let got = out.lock().unwrap().clone();
    compare("autocommit", got);
}

#[test]
fn cursor_attributes_match_python() {
    let c = mem();
    let mut out = Vec::new();
    let mut cur = c.cursor().unwrap();
    fn show(out: &mut Vec<String>, tag: &str, cur: &pydbm_sqlite::Cursor) {
        let d = match cur.description() {
            None => "None".to_string(),
            Some(d) => format!(
                "[{}]",
                d.iter()
                    .map(|s| format!("'{s}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        out.push(format!(
            "{tag} rowcount={} lastrowid={} description={d}",
            cur.rowcount(),
            cur.lastrowid().map_or("None".into(), |v| v.to_string())
        ));
    }
    show(&mut out, "init", &cur);
    cur.execute("create table t(a integer primary key, b)", ())
        .unwrap();
    show(&mut out, "ddl", &cur);
    cur.execute("insert into t(b) values (1)", ()).unwrap();
    show(&mut out, "insert", &cur);
    cur.execute("select a, b as 'B b' from t", ()).unwrap();
    show(&mut out, "select", &cur);
    out.push(format!("rows={}", list(&cur.fetchall().unwrap())));
    cur.executemany(
        "insert into t(b) values (?)",
        (1..=3).map(|i| vec![Value::Int(i)]),
    )
    .unwrap();
    show(&mut out, "executemany", &cur);
    cur.execute("update t set b=b+1 where a>1", ()).unwrap();
    show(&mut out, "update", &cur);
    cur.execute("delete from t", ()).unwrap();
    show(&mut out, "delete", &cur);
    cur.execute("with x as (select 5) insert into t(b) select * from x", ())
        .unwrap();
    show(&mut out, "with-insert", &cur);
    cur.execute(
        "insert into t(b) values (:v)",
        vec![("v", Value::from("named"))],
    )
    .unwrap();
    show(&mut out, "named", &cur);
    let last = cur.lastrowid().unwrap();
    cur.execute("select b from t where a = ?", vec![Value::Int(last)])
        .unwrap();
    let a = cur.fetchone().unwrap().map_or("None".into(), |v| v.repr());
    let b = cur.fetchone().unwrap().map_or("None".into(), |v| v.repr());
    out.push(format!("fetchone={a} then={b}"));
    cur.execute("select 1 union select 2 union select 3 union select 4", ())
        .unwrap();
    cur.arraysize = 2;
    let m1 = list(&cur.fetchmany(None).unwrap());
    let m2 = list(&cur.fetchmany(Some(3)).unwrap());
    let rest = list(&cur.fetchall().unwrap());
    out.push(format!("fetchmany={m1} fetchmany3={m2} rest={rest}"));
    cur.execute("", ()).unwrap();
    show(&mut out, "empty", &cur);
    cur.execute("select 1; -- trailing comment\n", ()).unwrap();
    out.push(format!("trailing={}", list(&cur.fetchall().unwrap())));
    let row = c
        .execute(
            "select 1, 1.5, ?, ?, NULL",
            vec![Value::from("s"), Value::Bytes(vec![255, 0])],
        )
        .unwrap()
        .fetchone()
        .unwrap()
        .unwrap();
    out.push(format!("types={}", row.repr()));
    out.push(format!("total_changes={}", c.total_changes().unwrap()));
    compare("cursor_attrs", out);
}

#[test]
fn errors_match_python() {
    let c = mem();
    let mut out = Vec::new();
    c.execute("create table t(a unique)", ()).unwrap();
    c.execute("insert into t values(1)", ()).unwrap();
    let named = |k: &str| {
        let mut m = HashMap::new();
        m.insert(k.to_string(), Value::Int(1));
        pydbm_sqlite::Params::Named(m)
    };
    let cases: Vec<(&str, pydbm_sqlite::Params)> = vec![
        ("select 1; select 2", ().into()),
        ("select 1; garbage", ().into()),
        ("selec 1", ().into()),
        ("select ?, ?", vec![Value::Int(1)].into()),
        ("select :a", named("b")),
        ("select ?", named("b")),
        ("insert into t values(1)", ().into()),
        ("select * from nope", ().into()),
    ];
    for (sql, p) in cases {
        out.push(err_code(c.execute(sql, p)));
    }
    out.push(err(c.executemany("select ?", [vec![Value::Int(1)]])));
    c.set_text_factory(TextFactory::Str).unwrap();
    out.push(err(c
        .execute("select cast(x'ff41' as text) as col", ())
        .and_then(|mut cur| cur.fetchone())));
    c.set_text_factory(TextFactory::Bytes).unwrap();
    out.push(
        c.execute("select 'abc'", ())
            .unwrap()
            .fetchone()
            .unwrap()
            .unwrap()
            .repr(),
    );
    c.create_function(
        "boom",
        0,
        |_| {
            Err(Error::new(
                pydbm_sqlite::ErrorKind::ValueError,
                "division by zero",
            ))
        },
        false,
    )
    .unwrap();
    out.push(err(c.execute("select boom()", ())));
    out.push(err(c.getlimit(99)));
    let mut cur = c.cursor().unwrap();
    cur.close();
    out.push(err(cur.execute("select 1", ()).map(|_| ())));
    c.close().unwrap();
    out.push(err(c.execute("select 1", ())));
    out.push(err(c.close()));
    compare("errors", out);
}

#[test]
fn converters_match_python() {
    register_converter("Point", |b| {
        let mut v = b"P(".to_vec();
        v.extend_from_slice(b);
        v.push(b')');
        Ok(Value::Bytes(v))
    });
    register_converter("num", |b| {
        let mut v = b"N".to_vec();
        v.extend_from_slice(b);
        Ok(Value::Bytes(v))
    });
    let opts = ConnectOptions {
        detect_types: PARSE_DECLTYPES | PARSE_COLNAMES,
        ..Default::default()
    };
    let c = connect(":memory:", &opts).unwrap();
    c.execute(
        "create table t(p point, q POINT(10), r integer, s num, u)",
        (),
    )
    .unwrap();
    c.execute("insert into t values('1;2', '3;4', 5, 6.25, NULL)", ())
        .unwrap();
    c.execute("insert into t values(NULL, NULL, NULL, 7, 'x')", ())
        .unwrap();
    let mut cur = c
        .execute(
            "select p, q, r, s, u, u as \"u [point]\", r as 'r [num]' from t",
            (),
        )
        .unwrap();
    let mut out = vec![format!(
        "[{}]",
        cur.description()
            .unwrap()
            .iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(", ")
    )];
    for r in cur.fetchall().unwrap() {
        out.push(r.repr());
    }
    compare("converters", out);
}

#[test]
fn rows_and_iterdump_match_python() {
    let c = mem();
    let mut out = Vec::new();
    c.set_row_factory(RowFactory::Row).unwrap();
    let r = c
        .execute("select 1 as Foo, 2 as bar, 3 as foo", ())
        .unwrap()
        .fetchone()
        .unwrap()
        .unwrap();
    let Value::Row(r) = r else {
        panic!("not a Row")
    };
    out.push(format!(
        "{} {} {} [{}] {} {}",
        r.by_name("foo").unwrap().repr(),
        r.by_name("BAR").unwrap().repr(),
        r.get(-1).unwrap().repr(),
        r.keys()
            .iter()
            .map(|k| format!("'{k}'"))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Tuple(r.slice(0, 2).into()).repr(),
        r.len()
    ));
    out.push(err(r.by_name("nope")));
    out.push(err(r.get(5)));
    c.set_row_factory(RowFactory::Tuple).unwrap();
    c.executescript(
        "
        create table \"a\"\"b\"(id integer primary key autoincrement, v text, w blob, x real);
        insert into \"a\"\"b\"(v, w, x) values ('it''s', x'00ff', 1.5), (NULL, NULL, -0.25);
        create index i on \"a\"\"b\"(v);
        create view vv as select v from \"a\"\"b\";
        create table plain(k);
        insert into plain values (1), ('two');
    ",
    )
    .unwrap();
    out.extend(c.iterdump(None).unwrap());
    compare("rows_and_dump", out);
}

struct Sum(i64);
impl Aggregate for Sum {
    fn step(&mut self, args: &[Value]) -> pydbm_sqlite::Result<()> {
        self.0 += args[0].as_int().unwrap_or(0);
        Ok(())
    }
    fn finalize(&mut self) -> pydbm_sqlite::Result<Value> {
        Ok(Value::Int(self.0))
    }
}
impl WindowAggregate for Sum {
    fn value(&mut self) -> pydbm_sqlite::Result<Value> {
        Ok(Value::Int(self.0))
    }
    fn inverse(&mut self, args: &[Value]) -> pydbm_sqlite::Result<()> {
        self.0 -= args[0].as_int().unwrap_or(0);
        Ok(())
    }
}

#[test]
fn user_functions_and_hooks_match_python() {
    let c = mem();
    let mut out = Vec::new();
    c.create_function(
        "twice",
        1,
        |a| {
            Ok(match &a[0] {
                Value::Int(i) => Value::Int(i * 2),
                Value::Text(s) => Value::Text(s.repeat(2)),
                other => other.clone(),
            })
        },
        true,
    )
    .unwrap();
    c.create_aggregate("mysum", 1, || Box::new(Sum(0))).unwrap();
    c.create_window_function("wsum", 1, || Box::new(Sum(0)))
        .unwrap();
    c.create_collation("rev", Some(Box::new(|a: &str, b: &str| b.cmp(a))))
        .unwrap();
    c.execute("create table t(x)", ()).unwrap();
    let q = |sql: &str| list(&c.execute(sql, ()).unwrap().fetchall().unwrap());
    out.push(q("select mysum(x) from t"));
    c.executemany(
        "insert into t values (?)",
        (1..=4).map(|i| vec![Value::Int(i)]),
    )
    .unwrap();
    out.push(q("select twice(x), twice('ab') from t"));
    out.push(q("select mysum(x) from t"));
    out.push(q(
        "select x, wsum(x) over (order by x rows between 1 preceding and current row) from t",
    ));
    out.push(q(
        "select cast(x as text) as s from t order by s collate rev",
    ));
    let acts = Arc::new(Mutex::new(Vec::new()));
    let a2 = acts.clone();
    c.execute("create table s(pub, secret)", ()).unwrap();
    c.set_authorizer(Some(Box::new(move |action, x, y, db, src| {
        let s = |v: Option<&str>| v.map_or("None".to_string(), |s| format!("'{s}'"));
        a2.lock().unwrap().push(format!(
            "({action}, {}, {}, {}, {})",
            s(x),
            s(y),
            s(db),
            s(src)
        ));
        if y == Some("secret") {
            1
        } else {
            0
        }
    })))
    .unwrap();
    out.push(err(c.execute("select secret from s", ())));
    out.push(format!("[{}]", acts.lock().unwrap().join(", ")));
    c.set_authorizer(None).unwrap();
    c.set_progress_handler(Some(Box::new(|| true)), 1).unwrap();
    out.push(err(c.execute("select 1", ())));
    c.set_progress_handler(None, 1).unwrap();
    out.push(q("select 1"));
    let old = c.setlimit(0, 100).unwrap();
    out.push(format!("{old} {}", c.getlimit(0).unwrap()));
    out.push(err(c.execute("select randomblob(1000)", ())));
    compare("functions", out);
}

/// Re-runs make.py with the live interpreters and checks the committed expectations are
/// exactly what they print (so the fixtures come from the reference, not from pydbm).
/// Lazy rows (make.py `lazy_rows`): execute steps a query's first row, each fetch reads a
/// row and steps the next, errors of later steps surface on that fetch, RETURNING's
/// rowcount is final at the last step, commit/rollback leave a pending query alone, and
/// closing the connection finalizes pending statements.
#[test]
fn lazy_rows_match_python() {
    let c = mem();
    let calls = Arc::new(Mutex::new(0i64));
    let counter = calls.clone();
    c.create_function(
        "f",
        1,
        move |args: &[Value]| {
            *counter.lock().unwrap() += 1;
            if args[0] == Value::Int(99) {
                return Err(Error::new(pydbm_sqlite::ErrorKind::ValueError, "boom"));
            }
            Ok(args[0].clone())
        },
        false,
    )
    .unwrap();
    let n = |calls: &Arc<Mutex<i64>>| *calls.lock().unwrap();
    let one = |r: Option<Value>| r.map_or("None".into(), |v| v.repr());
    let mut out = Vec::new();
    c.execute("create table t(a)", ()).unwrap();
    c.executemany("insert into t values (?)", (0..10).map(|i| (i,)))
        .unwrap();
    c.commit().unwrap();
    let mut cur = c.execute("select f(a) from t", ()).unwrap();
    out.push(format!(
        "execute calls={} rowcount={}",
        n(&calls),
        cur.rowcount()
    ));
    let r = one(cur.fetchone().unwrap());
    out.push(format!("fetchone={r} calls={}", n(&calls)));
    let r = list(&cur.fetchmany(Some(2)).unwrap());
    out.push(format!("fetchmany2={r} calls={}", n(&calls)));
    cur.close();
    out.push(format!(
        "close calls={} rowcount={}",
        n(&calls),
        cur.rowcount()
    ));
    c.execute("insert into t values (99)", ()).unwrap();
    c.commit().unwrap();
    *calls.lock().unwrap() = 0;
    let mut cur = c.execute("select f(a) from t where a >= 8", ()).unwrap();
    out.push(format!("execute calls={}", n(&calls)));
    for i in 0..3 {
        match cur.fetchone() {
            Ok(r) => {
                out.push(format!("row={} calls={}", one(r), n(&calls)));
                out.push(format!("fetch{i} no error"));
            }
            Err(e) => out.push(format!("fetch{i} {}", err::<()>(Err(e)))),
        }
    }
    out.push(format!(
        "first step fails: {}",
        err(c.execute("select f(a) from t where a = 99", ()))
    ));
    c.execute("delete from t where a = 99", ()).unwrap();
    c.commit().unwrap();
    c.execute("create table r(a integer primary key)", ())
        .unwrap();
    let mut cur = c
        .execute("insert into r values (1), (2), (3) returning a", ())
        .unwrap();
    out.push(format!(
        "returning execute rowcount={} lastrowid={}",
        cur.rowcount(),
        cur.lastrowid().unwrap()
    ));
    let r = one(cur.fetchone().unwrap());
    out.push(format!("fetchone={r} rowcount={}", cur.rowcount()));
    let r = list(&cur.fetchall().unwrap());
    out.push(format!("fetchall={r} rowcount={}", cur.rowcount()));
    c.commit().unwrap();
    let mut seen = Vec::new();
    for row in c.execute("select a from t", ()).unwrap() {
        let a = row.unwrap().as_tuple().unwrap()[0].as_int().unwrap();
        seen.push(a.to_string());
        if a < 3 {
            c.execute("insert into t values (?)", (100 + a,)).unwrap();
        }
    }
    out.push(format!("iterated=[{}]", seen.join(", ")));
    c.rollback().unwrap();
    let mut cur = c.execute("select a from t", ()).unwrap();
    let first = one(cur.fetchone().unwrap());
    c.commit().unwrap();
    out.push(format!(
        "commit: {first} then {}",
        one(cur.fetchone().unwrap())
    ));
    c.execute("insert into t values (50)", ()).unwrap();
    let mut cur = c.execute("select a from t", ()).unwrap();
    let first = one(cur.fetchone().unwrap());
    c.rollback().unwrap();
    out.push(format!(
        "rollback: {first} then {}",
        one(cur.fetchone().unwrap())
    ));
    cur.execute("select 42", ()).unwrap();
    out.push(format!("re-execute={}", list(&cur.fetchall().unwrap())));
    let mut a = c.execute("select a from t where a < 3", ()).unwrap();
    let mut b = c.execute("select a from t where a < 3", ()).unwrap();
    let (a1, b1, a2) = (
        one(a.fetchone().unwrap()),
        one(b.fetchone().unwrap()),
        one(a.fetchone().unwrap()),
    );
    let (b_rest, a_rest) = (list(&b.fetchall().unwrap()), list(&a.fetchall().unwrap()));
    out.push(format!("two cursors: {a1} {b1} {a2} {b_rest} {a_rest}"));
    let mut cur = c.execute("select a from t", ()).unwrap();
    cur.fetchone().unwrap();
    c.close().unwrap();
    out.push(format!("closed fetchone: {}", err(cur.fetchone())));
    out.push(format!(
        "closed next: {}",
        err(cur.next().expect("an error, not the end"))
    ));
    out.push(format!("closed fetchall: {}", err(cur.fetchall())));
    compare("lazy_rows", out);
}

#[test]
fn fixtures_match_live_python() {
    // Debian's python3 (3.11 with Debian's libsqlite3): the fixtures' maker.
    let Some(py) = pydbm_engine::live_reference::python_or_skip(
        pydbm_engine::live_reference::Python::Gdbm,
        "import sqlite3",
    ) else {
        return;
    };
    let py = py.as_path();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("make.py");
    std::fs::copy(fixture_dir().join("make.py"), &script).unwrap();
    let st = std::process::Command::new(py)
        .arg(&script)
        .status()
        .unwrap();
    assert!(st.success());
    for name in [
        "datetime_defaults",
        "blob_backup",
        "trace_legacy",
        "cursor_attrs",
        "errors",
        "converters",
        "rows_and_dump",
        "functions",
        "lazy_rows",
    ] {
        let live = std::fs::read_to_string(dir.path().join(format!("{name}.txt"))).unwrap();
        let committed = std::fs::read_to_string(fixture_dir().join(format!("{name}.txt"))).unwrap();
        // The first line names the interpreter; Debian may update the patch version.
        let body = |s: &str| s.lines().skip(1).collect::<Vec<_>>().join("\n");
        assert_eq!(body(&live), body(&committed), "{name}.txt is stale");
    }
}

/// The same scenarios run live under CPython 3.13.0: every 3.11 scenario prints the same
/// body under 3.13 (so the committed 3.11 expectations hold for 3.13 too), and the 3.13-only
/// fixtures (`autocommit`, the `python -m sqlite3` session) are what 3.13 prints today.
#[test]
fn fixtures_match_live_python_3_13() {
    let Some(py) = pydbm_engine::live_reference::python_or_skip(
        pydbm_engine::live_reference::Python::Py313,
        "import sqlite3",
    ) else {
        return;
    };
    let py = py.as_path();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("make.py");
    std::fs::copy(fixture_dir().join("make.py"), &script).unwrap();
    std::fs::copy(
        fixture_dir().join("shell_session.in"),
        dir.path().join("shell_session.in"),
    )
    .unwrap();
    for args in [
        &[][..],
        &["--autocommit"][..],
        &["--deprecations"][..],
        &["--audit"][..],
        &["--shell"][..],
    ] {
        let out = std::process::Command::new(py)
            .arg(&script)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "make.py {args:?}: {out:?}");
    }
    let body = |s: &str| s.lines().skip(1).collect::<Vec<_>>().join("\n");
    for name in [
        "datetime_defaults",
        "blob_backup",
        "trace_legacy",
        "cursor_attrs",
        "errors",
        "converters",
        "rows_and_dump",
        "functions",
        "lazy_rows",
        "autocommit",
        "deprecations",
        "resource_warnings",
        "audit",
    ] {
        let live = std::fs::read_to_string(dir.path().join(format!("{name}.txt"))).unwrap();
        let committed = std::fs::read_to_string(fixture_dir().join(format!("{name}.txt"))).unwrap();
        assert!(live.starts_with("# Python 3.13."), "{live}");
        assert_eq!(
            body(&live),
            body(&committed),
            "{name}.txt differs under 3.13"
        );
    }
    for name in [
        "shell_session.out",
        "shell_session.err",
        "shell_session.status",
    ] {
        let live = std::fs::read(dir.path().join(name)).unwrap();
        let committed = std::fs::read(fixture_dir().join(name)).unwrap();
        assert_eq!(live, committed, "{name} differs under live 3.13");
    }
}

#[test]
fn blob_backup_serialize_match_python() {
    let c = mem();
    let mut out = Vec::new();
    c.execute("create table b(x)", ()).unwrap();
    c.execute("insert into b values (zeroblob(8))", ()).unwrap();
    let mut bl = c.blobopen("b", "x", 1, false, "main").unwrap();
    bl.write(b"abcd").unwrap();
    out.push(format!("tell={} len={}", bl.tell().unwrap(), bl.len()));
    bl.seek(-2, 2).unwrap();
    bl.write(b"yz").unwrap();
    bl.seek(0, 0).unwrap();
    out.push(Value::Bytes(bl.read(Some(3)).unwrap()).repr());
    out.push(Value::Bytes(bl.read(None).unwrap()).repr());
    out.push(bl.get(1).unwrap().to_string());
    out.push(err(bl.write(b"123456789")));
    bl.set_slice(0, 2, b"AB").unwrap();
    out.push(err(bl.set_slice(0, 2, b"A")));
    out.push(err(bl.seek(100, 0)));
    bl.close();
    out.push(err(bl.read(None)));
    out.push(
        c.execute("select x from b", ())
            .unwrap()
            .fetchone()
            .unwrap()
            .unwrap()
            .repr(),
    );
    c.execute("create table big(x)", ()).unwrap();
    c.executemany(
        "insert into big values (?)",
        (0..20).map(|_| vec![Value::Bytes(vec![b'x'; 1000])]),
    )
    .unwrap();
    c.commit().unwrap();
    let d = mem();
    let mut prog = Vec::new();
    let mut record = |s: i32, r: i32, t: i32| prog.push(format!("({s}, {r}, {t})"));
    c.backup(
        &d,
        2,
        Some(&mut record),
        "main",
        std::time::Duration::from_millis(250),
    )
    .unwrap();
    out.push(format!("[{}]", prog.join(", ")));
    out.push(
        d.execute("select count(*) from big", ())
            .unwrap()
            .fetchone()
            .unwrap()
            .unwrap()
            .repr(),
    );
    out.push(err(c.backup(
        &c,
        -1,
        None,
        "main",
        std::time::Duration::ZERO,
    )));
    let data = c.serialize("main").unwrap();
    out.push(format!(
        "serialize={} {}",
        data.len(),
        Value::Bytes(data[..16].to_vec()).repr()
    ));
    let e = mem();
    e.deserialize(&data, "main").unwrap();
    out.push(
        e.execute("select count(*), length(x) from big", ())
            .unwrap()
            .fetchone()
            .unwrap()
            .unwrap()
            .repr(),
    );
    compare("blob_backup", out);
}

#[test]
fn check_same_thread_like_python() {
    let c = mem();
    let c2 = c.clone();
    let e = std::thread::spawn(move || c2.execute("select 1", ()).map(|_| ()))
        .join()
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind, pydbm_sqlite::ErrorKind::ProgrammingError);
    assert!(e
        .message
        .starts_with("SQLite objects created in a thread can only be used in that same thread. The object was created in thread id "));
    // interrupt() is exempt.
    let c3 = c.clone();
    std::thread::spawn(move || c3.interrupt()).join().unwrap();
    // check_same_thread=False: usable from several threads, serialized by the connection.
    let opts = ConnectOptions {
        check_same_thread: false,
        ..Default::default()
    };
    let c = connect(":memory:", &opts).unwrap();
    c.execute("create table t(a)", ()).unwrap();
    let hs: Vec<_> = (0..4)
        .map(|i| {
            let c = c.clone();
            std::thread::spawn(move || {
                for j in 0..50 {
                    c.execute("insert into t values(?)", vec![Value::Int(i * 100 + j)])
                        .unwrap();
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    c.commit().unwrap();
    let n = c
        .execute("select count(*) from t", ())
        .unwrap()
        .fetchone()
        .unwrap()
        .unwrap();
    assert_eq!(n.repr(), "(200,)");
}

#[derive(Debug)]
struct Point(i64, i64);
impl pydbm_sqlite::Object for Point {
    fn type_name(&self) -> &str {
        "Point"
    }
}
#[derive(Debug)]
struct Conforming;
impl pydbm_sqlite::Object for Conforming {
    fn type_name(&self) -> &str {
        "Conforming"
    }
    fn conform(&self, _: &pydbm_sqlite::PrepareProtocol) -> Option<Value> {
        Some(Value::from("conformed"))
    }
}

/// Adapters and __conform__ (docs: "How to adapt custom Python types to SQLite values").
#[test]
fn adapters_and_conform() {
    let c = mem();
    let p = Value::Object(Arc::new(Point(1, 2)));
    let e = c.execute("select ?", vec![p.clone()]).unwrap_err();
    assert_eq!(
        e.message,
        "Error binding parameter 1: type 'Point' is not supported"
    );
    pydbm_sqlite::register_adapter(|p: &Point| Ok(Value::Text(format!("{};{}", p.0, p.1))));
    let r = c.execute("select ?, ?", vec![p, Value::Object(Arc::new(Conforming))]);
    assert_eq!(
        r.unwrap().fetchone().unwrap().unwrap().repr(),
        "('1;2', 'conformed')"
    );
}

/// Python's defaults where the bundled build differs (spec §0): foreign keys off, 5 s busy
/// timeout; `timeout` maps to the busy timeout; `uri=True` honours `mode=ro`.
#[test]
fn connect_defaults_and_uri() {
    let c = mem();
    let q = |c: &Connection, sql: &str| {
        c.execute(sql, ())
            .unwrap()
            .fetchone()
            .unwrap()
            .unwrap()
            .repr()
    };
    assert_eq!(q(&c, "pragma foreign_keys"), "(0,)");
    assert_eq!(q(&c, "pragma busy_timeout"), "(5000,)");
    assert!(!c.getconfig(1002).unwrap());
    let opts = ConnectOptions {
        timeout: 0.25,
        ..Default::default()
    };
    assert_eq!(
        q(&connect(":memory:", &opts).unwrap(), "pragma busy_timeout"),
        "(250,)"
    );
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.db");
    let w = connect(&p, &ConnectOptions::default()).unwrap();
    w.execute("create table t(a)", ()).unwrap();
    w.close().unwrap();
    let opts = ConnectOptions {
        uri: true,
        ..Default::default()
    };
    let ro = connect(format!("file:{}?mode=ro", p.display()), &opts).unwrap();
    let e = ro.execute("insert into t values(1)", ()).unwrap_err();
    assert_eq!(e.message, "attempt to write a readonly database");
    assert_eq!(e.kind, pydbm_sqlite::ErrorKind::OperationalError);
    let e = connect(
        dir.path().join("no/such/dir.db"),
        &ConnectOptions::default(),
    )
    .unwrap_err();
    assert_eq!(e.message, "unable to open database file");
    assert!(pydbm_sqlite::complete_statement("select 1;"));
    assert!(!pydbm_sqlite::complete_statement("select 'a;"));
}

/// Lock interop: while the sqlite3 command line holds BEGIN EXCLUSIVE, a pydbm write fails
/// with OperationalError "database is locked" after the timeout, and the other way round.
#[test]
fn locks_exclude_the_sqlite3_command_line() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let cli = Path::new("/usr/bin/sqlite3");
    if !cli.exists() {
        pydbm_engine::live_reference::skip_or_fail("/usr/bin/sqlite3");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("l.db");
    let c = connect(
        &p,
        &ConnectOptions {
            timeout: 0.2,
            ..Default::default()
        },
    )
    .unwrap();
    c.execute("create table t(a)", ()).unwrap();
    let mut child = Command::new(cli)
        .arg(&p)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(
        stdin,
        "BEGIN EXCLUSIVE; INSERT INTO t VALUES(1); SELECT 'held';"
    )
    .unwrap();
    stdin.flush().unwrap();
    // Wait until the CLI holds the lock.
    let mut line = String::new();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line.trim(), "held");
    let t0 = std::time::Instant::now();
    let e = c.execute("insert into t values(2)", ()).unwrap_err();
    assert_eq!(e.kind, pydbm_sqlite::ErrorKind::OperationalError);
    assert_eq!(e.message, "database is locked");
    assert!(t0.elapsed() >= std::time::Duration::from_millis(150));
    c.rollback().unwrap();
    writeln!(stdin, "COMMIT;").unwrap();
    drop(stdin);
    child.wait().unwrap();
    // The other way round: pydbm holds EXCLUSIVE, the CLI gets "database is locked".
    c.set_isolation_level(None).unwrap();
    c.execute("begin exclusive", ()).unwrap();
    let o = Command::new(cli)
        .arg(&p)
        .arg("INSERT INTO t VALUES(3);")
        .output()
        .unwrap();
    let msg = String::from_utf8_lossy(&o.stderr);
    assert!(msg.contains("database is locked"), "{msg}");
    c.execute("commit", ()).unwrap();
    let n = c
        .execute("select count(*) from t", ())
        .unwrap()
        .fetchone()
        .unwrap()
        .unwrap();
    assert_eq!(n.repr(), "(1,)");
}

/// `pydbm sqlite :memory:` fed the session CPython 3.13's `python -m sqlite3` was fed
/// (fixture made by make.py --shell): same stdout, stderr and status. Only the SQLite
/// version in the banner differs (3.40.1 there, the bundled build here).
#[test]
fn shell_session_matches_python_3_13() {
    let input = std::fs::read(fixture_dir().join("shell_session.in")).unwrap();
    let want_out = std::fs::read_to_string(fixture_dir().join("shell_session.out")).unwrap();
    let want_err = std::fs::read_to_string(fixture_dir().join("shell_session.err")).unwrap();
    let want_status = std::fs::read_to_string(fixture_dir().join("shell_session.status")).unwrap();
    let mut out = Vec::new();
    let mut errb = Vec::new();
    let status = pydbm_sqlite::shell(
        Path::new(":memory:"),
        None,
        &mut input.as_slice(),
        &mut out,
        &mut errb,
    )
    .unwrap();
    assert_eq!(status.to_string(), want_status.trim());
    assert_eq!(String::from_utf8(out).unwrap(), want_out);
    let got_err = String::from_utf8(errb)
        .unwrap()
        .replace(pydbm_sqlite::sqlite_version(), "3.40.1");
    assert_eq!(got_err, want_err);
}

/// The opt-in default adapters/converters (registered at import by Python ≤ 3.13, deprecated
/// in 3.12) store and parse what CPython's do.
#[test]
fn default_datetime_support_matches_python() {
    use pydbm_sqlite::datetime::{register_default_datetime, Date, DateTime};
    register_default_datetime();
    let c = connect(
        ":memory:",
        &ConnectOptions {
            detect_types: PARSE_DECLTYPES,
            ..Default::default()
        },
    )
    .unwrap();
    c.execute("create table t(d date, ts timestamp)", ())
        .unwrap();
    let d = Date::new(2024, 2, 29).unwrap();
    let ts = DateTime::new(d, 13, 5, 9, 120).unwrap();
    c.execute(
        "insert into t values (?, ?)",
        vec![Value::Object(Arc::new(d)), Value::Object(Arc::new(ts))],
    )
    .unwrap();
    c.execute(
        "insert into t values ('2024-01-02', '2024-01-02 03:04:05.1234567')",
        (),
    )
    .unwrap();
    let mut out: Vec<String> = c
        .execute("select cast(d as text), cast(ts as text) from t", ())
        .unwrap()
        .fetchall()
        .unwrap()
        .iter()
        .map(Value::repr)
        .collect();
    for row in c
        .execute("select d, ts from t", ())
        .unwrap()
        .fetchall()
        .unwrap()
    {
        let v = row.as_tuple().unwrap();
        let (Value::Object(d), Value::Object(ts)) = (&v[0], &v[1]) else {
            panic!("not converted: {row:?}")
        };
        let d = (d.as_ref() as &dyn std::any::Any)
            .downcast_ref::<Date>()
            .unwrap();
        let ts = (ts.as_ref() as &dyn std::any::Any)
            .downcast_ref::<DateTime>()
            .unwrap();
        out.push(format!(
            "{} {} {} {} {} {} {}",
            d.year, d.month, d.day, ts.hour, ts.minute, ts.second, ts.microsecond
        ));
    }
    compare("datetime_defaults", out);
}

/// Python 3.12+ DeprecationWarnings (expected output made by CPython 3.13.0, `make.py
/// --deprecations`): the same texts at the same places, in order, under Python's "always"
/// filter; under "error" the operation fails with the warning and changes nothing; under
/// "default" a repeated warning is recorded once.
#[test]
fn deprecation_warnings_match_python_3_13() {
    use pydbm_sqlite::datetime::{register_default_datetime, Date, DateTime};
    use pydbm_sqlite::{Params, WarningAction};
    register_default_datetime();
    let c = connect(
        ":memory:",
        &ConnectOptions {
            detect_types: PARSE_DECLTYPES | PARSE_COLNAMES,
            ..Default::default()
        },
    )
    .unwrap();
    c.execute("create table t(d date, ts timestamp)", ())
        .unwrap();
    c.execute("create table n(a, b)", ()).unwrap();
    let d = Value::Object(Arc::new(Date::new(2024, 2, 29).unwrap()));
    let ts = Value::Object(Arc::new(
        DateTime::new(Date::new(2024, 2, 29).unwrap(), 13, 5, 9, 120).unwrap(),
    ));
    fn shown(v: &Value) -> String {
        let Value::Object(o) = v else {
            return v.repr();
        };
        let any = o.as_ref() as &dyn std::any::Any;
        if let Some(d) = any.downcast_ref::<Date>() {
            d.isoformat()
        } else if let Some(t) = any.downcast_ref::<DateTime>() {
            t.isoformat()
        } else {
            v.repr()
        }
    }
    let first = |c: &Connection, sql: &str| -> pydbm_sqlite::Result<String> {
        let row = c.execute(sql, ())?.fetchone()?.unwrap();
        Ok(shown(&row.as_tuple().unwrap()[0]))
    };
    let rows = |c: &Connection, sql: &str, p: Params| -> pydbm_sqlite::Result<String> {
        Ok(list(&c.execute(sql, p)?.fetchall()?))
    };
    let seq = |v: &[i64]| Params::Seq(v.iter().map(|&i| Value::Int(i)).collect());
    let two = || (1..=2).map(|i| seq(&[2 * i - 1, 2 * i]));
    type Case<'a> = Box<dyn Fn() -> pydbm_sqlite::Result<String> + 'a>;
    let cases: Vec<(&str, Case)> = vec![
        (
            "adapt date",
            Box::new(|| {
                c.execute("insert into t values (?, NULL)", vec![d.clone()])
                    .map(|_| "ok".into())
            }),
        ),
        (
            "adapt datetime",
            Box::new(|| {
                c.execute("insert into t values (NULL, ?)", vec![ts.clone()])
                    .map(|_| "ok".into())
            }),
        ),
        (
            "convert date",
            Box::new(|| first(&c, "select d from t where d is not null")),
        ),
        (
            "convert timestamp",
            Box::new(|| first(&c, "select ts from t where ts is not null")),
        ),
        (
            "colname date",
            Box::new(|| first(&c, "select '2024-01-02' as \"x [date]\"")),
        ),
        (
            "named seq",
            Box::new(|| rows(&c, "select :a, :b", seq(&[1, 2]))),
        ),
        (
            "named seq count",
            Box::new(|| rows(&c, "select :a, :b", seq(&[1]))),
        ),
        (
            "numbered seq",
            Box::new(|| rows(&c, "select ?1, ?2", seq(&[1, 2]))),
        ),
        (
            "at dollar seq",
            Box::new(|| rows(&c, "select @a, $b", seq(&[1, 2]))),
        ),
        (
            "mixed seq",
            Box::new(|| rows(&c, "select ?, :b", seq(&[1, 2]))),
        ),
        (
            "named dict",
            Box::new(|| rows(&c, "select :a", vec![("a", Value::Int(1))].into())),
        ),
        (
            "executemany named seq",
            Box::new(|| {
                c.executemany("insert into n values (:a, :b)", two())
                    .map(|cur| cur.rowcount().to_string())
            }),
        ),
    ];
    let mut out = Vec::new();
    c.set_warning_action(Some(WarningAction::Always));
    for (tag, f) in &cases {
        match f() {
            Ok(r) => out.push(format!("{tag}: ok {r}")),
            Err(e) => out.push(format!("{tag}: {}: {}", e.kind.name(), e.message)),
        }
        for w in c.take_warnings() {
            out.push(format!("  {w}"));
        }
    }
    c.set_warning_action(Some(WarningAction::Error));
    for i in [0, 1, 2, 5, 6, 11] {
        let (tag, f) = &cases[i];
        out.push(format!("error {tag}: {}", err(f())));
    }
    assert!(c.warnings().is_empty(), "errors are not recorded");
    out.push(format!(
        "rows {} {}",
        first(&c, "select count(*) from t")
            .map(|s| format!("({s},)"))
            .unwrap(),
        first(&c, "select count(*) from n")
            .map(|s| format!("({s},)"))
            .unwrap()
    ));
    c.set_warning_action(Some(WarningAction::Default));
    for i in 0..3 {
        c.executemany(
            "insert into n values (:a, :b)",
            [seq(&[i, i]), seq(&[i, i])],
        )
        .unwrap();
    }
    for w in c.take_warnings() {
        out.push(format!("default {w}"));
    }
    compare("deprecations", out);
}

/// The warning channel: a connection's hook sees what it records; an adapter that warns
/// outside any connection (`sqlite3.adapt`) records on the process-wide sink; another
/// connection's warnings stay its own.
#[test]
fn warnings_go_to_the_connection_in_use() {
    use pydbm_sqlite::datetime::{register_default_datetime, Date};
    register_default_datetime();
    let a = mem();
    let b = mem();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    a.set_warning_hook(Some(Arc::new(move |w: &pydbm_sqlite::Warning| {
        s2.lock().unwrap().push(w.message.clone())
    })));
    a.execute("select :x", vec![Value::Int(1)]).unwrap();
    assert_eq!(a.warnings().len(), 1);
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert!(b.warnings().is_empty());
    // Named placeholders bound from a mapping, numbered and qmark ones from a sequence:
    // no warning (3.13.0 no longer warns for `?NNN`).
    b.execute("select :x", vec![("x", Value::Int(1))]).unwrap();
    b.execute("select ?1, ?2", vec![Value::Int(1), Value::Int(2)])
        .unwrap();
    b.execute("select ?", vec![Value::Int(1)]).unwrap();
    assert!(b.warnings().is_empty(), "{:?}", b.warnings());
    let d = Value::Object(Arc::new(Date::new(2024, 1, 2).unwrap()));
    assert_eq!(pydbm_sqlite::adapt(&d).unwrap(), Value::from("2024-01-02"));
    assert!(pydbm_sqlite::warning::take_global_warnings()
        .iter()
        .any(|w| w
            .message
            .starts_with("The default date adapter is deprecated")));
    assert!(a.warnings().len() == 1 && b.warnings().is_empty());
}

/// An adapter's own error comes out of `execute` as it is (CPython 3.11–3.13: the
/// adapter's exception propagates), not as "type is not supported".
#[test]
fn adapter_errors_propagate() {
    #[derive(Debug)]
    struct Failing;
    impl pydbm_sqlite::Object for Failing {
        fn type_name(&self) -> &str {
            "Failing"
        }
    }
    pydbm_sqlite::register_adapter(|_: &Failing| {
        Err(Error::new(pydbm_sqlite::ErrorKind::ValueError, "boom"))
    });
    let c = mem();
    let e = c
        .execute("select ?", vec![Value::Object(Arc::new(Failing))])
        .unwrap_err();
    assert_eq!(err::<()>(Err(e)), "ValueError: boom");
}

fn py_list_str(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| Value::from(s.as_str()).repr()).collect();
    format!("[{}]", items.join(", "))
}

struct StepFails;
impl Aggregate for StepFails {
    fn step(&mut self, _: &[Value]) -> pydbm_sqlite::Result<()> {
        Err(Error::new(pydbm_sqlite::ErrorKind::ValueError, ""))
    }
    fn finalize(&mut self) -> pydbm_sqlite::Result<Value> {
        Ok(Value::Int(0))
    }
}
struct FinalizeFails;
impl Aggregate for FinalizeFails {
    fn step(&mut self, _: &[Value]) -> pydbm_sqlite::Result<()> {
        Ok(())
    }
    fn finalize(&mut self) -> pydbm_sqlite::Result<Value> {
        Err(Error::new(pydbm_sqlite::ErrorKind::ValueError, ""))
    }
}

/// The behaviours the acceptance audit (docs/sqlite.md "Acceptance coverage") found
/// without a test against the reference, replayed against CPython 3.13.0's output
/// (`make.py --audit`): module constants, `complete_statement`, the deterministic flag,
/// failing aggregates, collation removal, cursor iteration and per-cursor row factory,
/// `Row` equality, NaN/bool/NUL binding, `iterdump(filter=)`, isolation level case,
/// `getconfig`/`setconfig`, a closed connection's methods and cursors, `executescript`'s
/// commit and per-statement trace, `executemany` over an iterator.
#[test]
fn audit_items_match_python_3_13() {
    let mut out = Vec::new();
    out.push(format!(
        "module {} {} {}",
        pydbm_sqlite::APILEVEL,
        pydbm_sqlite::PARAMSTYLE,
        pydbm_sqlite::threadsafety()
    ));
    let stmts = [
        "select 1;",
        "select 1",
        "select ';",
        "create trigger x after insert on t begin select 1;",
        "",
    ];
    let complete: Vec<&str> = stmts
        .iter()
        .map(|s| py_bool(pydbm_sqlite::complete_statement(s)))
        .collect();
    out.push(format!("complete [{}]", complete.join(", ")));
    let c = mem();
    c.execute("create table t(x)", ()).unwrap();
    c.executemany(
        "insert into t values (?)",
        [3, 1, 2].map(|i| vec![Value::Int(i)]),
    )
    .unwrap();
    c.create_function("nd", 1, |a| Ok(a[0].clone()), false)
        .unwrap();
    out.push(format!(
        "nondeterministic index {}",
        err(c.execute("create index i1 on t(nd(x))", ()))
    ));
    c.create_function("det", 1, |a| Ok(a[0].clone()), true)
        .unwrap();
    out.push(format!(
        "deterministic index {}",
        err(c.execute("create index i2 on t(det(x))", ()))
    ));
    c.create_aggregate("stepfails", 1, || Box::new(StepFails))
        .unwrap();
    c.create_aggregate("finfails", 1, || Box::new(FinalizeFails))
        .unwrap();
    let all = |c: &Connection, sql: &str| c.execute(sql, ()).and_then(|mut cur| cur.fetchall());
    out.push(err(all(&c, "select stepfails(x) from t")));
    out.push(err(all(&c, "select finfails(x) from t")));
    c.create_collation("rev", Some(Box::new(|a: &str, b: &str| b.cmp(a))))
        .unwrap();
    let by_rev = "select x from t order by cast(x as text) collate rev";
    out.push(list(&all(&c, by_rev).unwrap()));
    c.create_collation("rev", None).unwrap();
    out.push(err(all(&c, by_rev)));
    let mut cur = c.cursor().unwrap();
    // Same connection: a temp table made through cur.connection() is visible through c.
    cur.connection()
        .execute("create temp table probe(x)", ())
        .unwrap();
    let same = c
        .execute(
            "select count(*) from temp.sqlite_master where name = 'probe'",
            (),
        )
        .unwrap()
        .fetchone()
        .unwrap()
        .unwrap()
        == Value::Tuple(vec![Value::Int(1)].into());
    out.push(format!(
        "arraysize={} connection_is_c={}",
        cur.arraysize,
        py_bool(same)
    ));
    cur.execute("select x from t order by x", ()).unwrap();
    let iterated: Vec<Value> = (&mut cur).map(|r| r.unwrap()).collect();
    out.push(list(&iterated));
    cur.row_factory = Some(RowFactory::Custom(Arc::new(
        |_: &[String], v: Vec<Value>| Ok(Value::Int(v[0].as_int().unwrap_or(0) * 10)),
    )));
    cur.execute("select x from t order by x", ()).unwrap();
    out.push(list(&cur.fetchall().unwrap()));
    out.push(list(&all(&c, "select x from t order by x").unwrap()));
    c.set_row_factory(RowFactory::Row).unwrap();
    let one = |sql: &str| c.execute(sql, ()).unwrap().fetchone().unwrap().unwrap();
    let a = one("select 1 as a, 2 as b");
    let b = one("select 1 as a, 2 as b");
    let d = one("select 1 as a, 3 as b");
    let e = one("select 1 as x, 2 as b");
    let Value::Row(ar) = &a else {
        panic!("not a Row: {a:?}")
    };
    out.push(format!(
        "row eq={} values_ne={} names_ne={} tuple_ne={} keys={} len={}",
        py_bool(a == b),
        py_bool(a != d),
        py_bool(a != e),
        py_bool(a != Value::Tuple(vec![Value::Int(1), Value::Int(2)].into())),
        py_list_str(&ar.keys()),
        ar.len()
    ));
    c.set_row_factory(RowFactory::Tuple).unwrap();
    out.push(
        c.execute(
            "select ?, ?, ?, length(?)",
            vec![
                Value::Float(f64::NAN),
                Value::from(true),
                Value::from("a\0b"),
                Value::from("a\0b"),
            ],
        )
        .unwrap()
        .fetchone()
        .unwrap()
        .unwrap()
        .repr(),
    );
    c.execute("create table other(y)", ()).unwrap();
    c.execute("insert into other values (1)", ()).unwrap();
    c.commit().unwrap();
    out.extend(c.iterdump(Some("oth%")).unwrap());
    let tr = tracer(&c);
    c.set_isolation_level(Some("exclusive")).unwrap();
    c.execute("insert into t values (4)", ()).unwrap();
    c.commit().unwrap();
    c.set_trace_callback(None).unwrap();
    c.execute("insert into t values (5)", ()).unwrap();
    c.commit().unwrap();
    let level = c.isolation_level().unwrap().unwrap();
    out.push(format!(
        "isolation={} trace={}",
        Value::from(level).repr(),
        py_list_str(&tr.lock().unwrap())
    ));
    let fkey = c.getconfig(1002).unwrap();
    // setconfig returns `()` (Python: None), so the type states the "set=None" part.
    let () = c.setconfig(1002, true).unwrap();
    out.push(format!(
        "config fkey={} set=None now={} defensive={}",
        py_bool(fkey),
        py_bool(c.getconfig(1002).unwrap()),
        py_bool(c.getconfig(1010).unwrap())
    ));
    let mut cur = c.execute("select x from t", ()).unwrap();
    c.close().unwrap();
    out.push(format!("fetch after close {}", err(cur.fetchone())));
    let closed: Vec<(&str, String)> = vec![
        ("commit", err(c.commit())),
        ("rollback", err(c.rollback())),
        ("cursor", err(c.cursor())),
        ("in_transaction", err(c.in_transaction())),
        ("total_changes", err(c.total_changes())),
        ("iterdump", err(c.iterdump(None))),
        ("serialize", err(c.serialize("main"))),
        ("getlimit", err(c.getlimit(0))),
        ("blobopen", err(c.blobopen("t", "x", 1, false, "main"))),
    ];
    for (name, e) in closed {
        out.push(format!("closed {name} {e}"));
    }
    let c = mem();
    let tr = tracer(&c);
    c.execute("create table t(x)", ()).unwrap();
    c.execute("insert into t values (1)", ()).unwrap();
    c.executescript("insert into t values (2); insert into t values (3);")
        .unwrap();
    out.push(format!(
        "executescript in_transaction={} trace={}",
        py_bool(c.in_transaction().unwrap()),
        py_list_str(&tr.lock().unwrap())
    ));
    let cur = c
        .executemany(
            "insert into t values (?)",
            (0..4).map(|i| vec![Value::Int(i)]),
        )
        .unwrap();
    out.push(format!("generator rowcount={}", cur.rowcount()));
    out.push(err(c.execute("select 1", vec![Value::Int(1)])));
    c.create_function("one", 1, |a| Ok(a[0].clone()), false)
        .unwrap();
    out.push(err(c.execute("select one(1, 2)", ())));
    c.create_function(
        "bad",
        0,
        |_| Ok(Value::Tuple(vec![Value::Int(1)].into())),
        false,
    )
    .unwrap();
    out.push(err(c.execute("select bad()", ())));
    out.push(err(
        c.executemany("create table x(a)", [pydbm_sqlite::Params::None])
    ));
    out.push(err(c.blobopen("t", "x", 99, false, "main")));
    out.push(err(c.blobopen("t", "nope", 1, false, "main")));
    let mut cur = c.execute("select x from t order by x", ()).unwrap();
    let zero = list(&cur.fetchmany(Some(0)).unwrap());
    let next = cur.fetchone().unwrap().map_or("None".into(), |v| v.repr());
    out.push(format!("fetchmany0={zero} next={next}"));
    let d = mem();
    d.close().unwrap();
    out.push(format!(
        "backup to closed {}",
        err(c.backup(&d, -1, None, "main", std::time::Duration::ZERO))
    ));
    c.commit().unwrap();
    c.close().unwrap();
    out.push(format!("close twice {}", err(c.close())));
    compare("audit", out);
}

/// CPython 3.13's `ResourceWarning` for a connection finalized without `close()` (expected
/// output made by 3.13.0, `make.py --deprecations`, addresses masked): none for a closed
/// connection, none while a cursor still holds the connection, one when the last handle
/// goes. Ignored unless an action is set, as under Python's default filters.
#[test]
fn unclosed_connection_warns_like_python_3_13() {
    use pydbm_sqlite::warning::{set_global_warning_action, set_global_warning_hook};
    use pydbm_sqlite::WarningAction;
    let me = std::thread::current().id();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    // Other tests drop connections on their own threads at the same time: keep ours.
    set_global_warning_hook(Some(Arc::new(move |w: &pydbm_sqlite::Warning| {
        if std::thread::current().id() == me {
            s2.lock().unwrap().push(w.clone());
        }
    })));
    let count = || seen.lock().unwrap().len();
    drop(mem());
    assert_eq!(count(), 0, "ResourceWarning is ignored by default");
    set_global_warning_action(Some(WarningAction::Always));
    let mut out = Vec::new();
    let c = mem();
    c.execute("create table t(x)", ()).unwrap();
    drop(c);
    out.push(format!("unclosed: {}", count()));
    let d = mem();
    d.close().unwrap();
    drop(d);
    out.push(format!("closed: {}", count()));
    let e = mem();
    let cur = e.cursor().unwrap();
    drop(e);
    out.push(format!("cursor alive: {}", count()));
    drop(cur);
    out.push(format!("cursor gone: {}", count()));
    set_global_warning_action(None);
    set_global_warning_hook(None);
    for w in seen.lock().unwrap().iter() {
        let (head, tail) = w.message.split_once(" at 0x").unwrap();
        let addr = tail.strip_suffix('>').unwrap();
        assert!(
            !addr.is_empty() && addr.chars().all(|c| c.is_ascii_hexdigit()),
            "{}",
            w.message
        );
        out.push(format!("{}: {head} at ADDR>", w.category.name()));
    }
    compare("resource_warnings", out);
}
