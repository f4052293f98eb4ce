//! Python's warnings from the `sqlite3` module (3.12+ deprecations), as Rust values.
//!
//! CPython emits these through its `warnings` module; pydbm delivers the same category and
//! message text as a [`Warning`] value to a sink:
//!
//! - while a [`Connection`](crate::Connection) is in use (a statement binds, steps, runs a
//!   converter, adapter or callback), to that connection's sink;
//! - otherwise (e.g. [`crate::adapt`] called directly) to the process-wide sink.
//!
//! Each sink applies a [`WarningAction`] (Python's filter actions): by default a warning is
//! recorded once per distinct category and message (Python's `"default"` action) and is
//! not fatal; [`WarningAction::Error`] turns it into an [`Error`] of kind
//! [`ErrorKind::DeprecationWarning`] (what `-W error::DeprecationWarning` does), which the
//! operation that warned returns. A hook, when set, sees every warning the sink records.
//!
//! Where CPython 3.13 warns (checked against live 3.13, `tests/fixtures/sqlite3/make.py
//! --deprecations`):
//!
//! | warning | pydbm |
//! |---|---|
//! | default `date`/`datetime` adapters, `"date"`/`"timestamp"` converters (3.12) | [`crate::datetime::register_default_datetime`]'s adapters and converters |
//! | named placeholder (`:a`, `@a`, `$a`) bound from a sequence (3.12) | `named_placeholders_with_sequence`, per binding, after the count check |
//! | more than one positional argument to `connect` (3.13) | not applicable: [`crate::ConnectOptions`] has named fields only |
//! | keyword `name=`/`narg=`/`func=` to `create_function`, `*_callback=` to `set_authorizer` & co. (3.13) | not applicable: Rust has no keyword arguments |
//! | `sqlite3.version` / `version_info` (3.12) | not applicable: pydbm has no module version attribute |
//! | `ResourceWarning: unclosed database` (3.13) | `unclosed_database`, when the last handle of an open connection drops |

use std::cell::Cell;
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::{Error, ErrorKind, Result};

/// The Python warning class of a [`Warning`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WarningCategory {
    /// Python's `DeprecationWarning`.
    DeprecationWarning,
    /// Python's `ResourceWarning` (3.13: a connection dropped without `close()`).
    ResourceWarning,
}

impl WarningCategory {
    /// The Python class name, e.g. `"DeprecationWarning"`.
    pub fn name(self) -> &'static str {
        match self {
            WarningCategory::DeprecationWarning => "DeprecationWarning",
            WarningCategory::ResourceWarning => "ResourceWarning",
        }
    }

    /// The [`ErrorKind`] a warning of this category becomes under [`WarningAction::Error`].
    pub fn error_kind(self) -> ErrorKind {
        match self {
            WarningCategory::DeprecationWarning => ErrorKind::DeprecationWarning,
            WarningCategory::ResourceWarning => ErrorKind::ResourceWarning,
        }
    }

    /// The action when no sink sets one: deprecations are recorded
    /// ([`WarningAction::Default`]); `ResourceWarning`s are ignored, as Python's default
    /// filters ignore them (a dropped connection records one only when asked to).
    pub fn default_action(self) -> WarningAction {
        match self {
            WarningCategory::DeprecationWarning => WarningAction::Default,
            WarningCategory::ResourceWarning => WarningAction::Ignore,
        }
    }
}

/// One warning: Python's category and its exact message text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Warning {
    /// The warning class.
    pub category: WarningCategory,
    /// The message, as CPython 3.13 words it.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.category.name(), self.message)
    }
}

/// What a sink does with a warning (Python's `warnings` filter actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WarningAction {
    /// `"default"`: record the first occurrence of each distinct warning.
    #[default]
    Default,
    /// `"always"`: record every occurrence.
    Always,
    /// `"ignore"`: drop it.
    Ignore,
    /// `"error"`: the operation fails with the warning as an [`Error`].
    Error,
}

/// A function called with each warning a sink records.
pub type WarningHook = Arc<dyn Fn(&Warning) + Send + Sync>;

#[derive(Default)]
struct SinkState {
    /// `None`: follow the process-wide sink's action.
    action: Option<WarningAction>,
    recorded: Vec<Warning>,
    hook: Option<WarningHook>,
}

/// Where warnings go: one per connection, plus the process-wide one.
#[derive(Default)]
pub(crate) struct WarningSink {
    state: Mutex<SinkState>,
}

impl WarningSink {
    fn state(&self) -> std::sync::MutexGuard<'_, SinkState> {
        // The state holds plain data; a panic elsewhere cannot leave it inconsistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies the action to `w`: records it (and calls the hook), drops it, or returns it
    /// as an error.
    fn emit(&self, w: Warning) -> Result<()> {
        let is_global = std::ptr::eq(self, global().as_ref());
        let action = {
            let own = self.state().action;
            let set = match own {
                Some(a) => Some(a),
                None if is_global => None,
                None => global().state().action,
            };
            set.unwrap_or(w.category.default_action())
        };
        let hook = {
            let mut st = self.state();
            match action {
                WarningAction::Ignore => return Ok(()),
                WarningAction::Error => {
                    return Err(Error::new(w.category.error_kind(), w.message));
                }
                WarningAction::Default if st.recorded.contains(&w) => return Ok(()),
                WarningAction::Default | WarningAction::Always => {}
            }
            st.recorded.push(w.clone());
            st.hook.clone()
        };
        let hook = match hook {
            Some(h) => Some(h),
            None if !is_global => global().state().hook.clone(),
            None => None,
        };
        if let Some(h) = hook {
            h(&w);
        }
        Ok(())
    }

    pub(crate) fn set_action(&self, action: Option<WarningAction>) {
        self.state().action = action;
    }

    pub(crate) fn set_hook(&self, hook: Option<WarningHook>) {
        self.state().hook = hook;
    }

    pub(crate) fn recorded(&self) -> Vec<Warning> {
        self.state().recorded.clone()
    }

    pub(crate) fn take(&self) -> Vec<Warning> {
        std::mem::take(&mut self.state().recorded)
    }
}

fn global() -> &'static Arc<WarningSink> {
    static G: OnceLock<Arc<WarningSink>> = OnceLock::new();
    G.get_or_init(Default::default)
}

thread_local! {
    /// The sink of the connection this thread is using right now, if any.
    /// A raw pointer rather than an `Arc`: entering and leaving a connection happens on every
    /// state lock (each fetched row), and a pointer costs no reference-count traffic. It is
    /// only non-null while a [`CurrentSink`] borrowing the sink is alive on this thread.
    static CURRENT: Cell<*const WarningSink> = const { Cell::new(std::ptr::null()) };
}

/// Makes a connection's sink current on this thread until dropped (then restores the
/// previous one, so nested uses such as `backup` between two connections unwind in order).
pub(crate) struct CurrentSink<'a> {
    previous: *const WarningSink,
    _sink: std::marker::PhantomData<&'a WarningSink>,
}

impl<'a> CurrentSink<'a> {
    #[inline]
    pub(crate) fn enter(sink: &'a Arc<WarningSink>) -> CurrentSink<'a> {
        let previous = CURRENT.with(|c| c.replace(Arc::as_ptr(sink)));
        CurrentSink {
            previous,
            _sink: std::marker::PhantomData,
        }
    }
}

impl Drop for CurrentSink<'_> {
    #[inline]
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

/// Python's `warnings.warn(message, category)`: delivers a warning to the sink of the
/// connection in use on this thread, else to the process-wide sink. `Err` only under
/// [`WarningAction::Error`]; the caller returns it (the warned operation fails).
///
/// Adapters and converters registered by the user may call it too, as Python code calls
/// `warnings.warn`.
pub fn warn(category: WarningCategory, message: impl Into<String>) -> Result<()> {
    let w = Warning {
        category,
        message: message.into(),
    };
    let current = CURRENT.with(Cell::get);
    // SAFETY: a non-null CURRENT was set by a CurrentSink that borrows the sink for its
    // lifetime and restores the previous pointer when dropped, in LIFO order on this
    // thread, so the sink it points to is alive for the whole of this call.
    match unsafe { current.as_ref() } {
        Some(s) => s.emit(w),
        None => global().emit(w),
    }
}

/// Sets the process-wide action, which is also every connection's unless it sets its own
/// ([`crate::Connection::set_warning_action`]). `None` (the initial state): each
/// category's [`WarningCategory::default_action`].
pub fn set_global_warning_action(action: Option<WarningAction>) {
    global().set_action(action);
}

/// CPython 3.13: a connection finalized while still open warns `ResourceWarning: unclosed
/// database in <sqlite3.Connection object at 0x…>` (spec §1.2). Delivered to the
/// process-wide sink (the connection is gone); ignored unless an action is set. Under
/// [`WarningAction::Error`] nothing can fail (Python prints "Exception ignored"), so the
/// warning is dropped.
pub(crate) fn unclosed_database(address: *const ()) {
    let _ = global().emit(Warning {
        category: WarningCategory::ResourceWarning,
        message: format!("unclosed database in <sqlite3.Connection object at {address:p}>"),
    });
}

/// Sets the process-wide hook: called for warnings recorded outside a connection, and for
/// a connection's warnings when that connection has no hook of its own.
pub fn set_global_warning_hook(hook: Option<WarningHook>) {
    global().set_hook(hook);
}

/// Removes and returns the warnings recorded outside any connection.
pub fn take_global_warnings() -> Vec<Warning> {
    global().take()
}

/// CPython 3.12+: binding a sequence to a statement with named placeholders (`:a`, `@a`,
/// `$a`; numbered `?NNN` are fine since 3.13) warns once per such placeholder, after the
/// count check passed (spec §1.4 "Parameter binding"). Python 3.14 makes it an error.
pub(crate) fn named_placeholders_with_sequence(
    stmt: &crate::statement::Statement,
    count: usize,
) -> Result<()> {
    for i in 1..=count {
        if let Some(name) = stmt.parameter_name(i) {
            if !name.starts_with('?') {
                warn(
                    WarningCategory::DeprecationWarning,
                    format!(
                        "Binding {i} ('{name}') is a named parameter, but you supplied a sequence which requires nameless (qmark) placeholders. Starting with Python 3.14 an sqlite3.ProgrammingError will be raised."
                    ),
                )?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_actions() {
        let s = Arc::new(WarningSink::default());
        let _cur = CurrentSink::enter(&s);
        s.set_action(Some(WarningAction::Default));
        let seen = Arc::new(Mutex::new(0));
        let n = seen.clone();
        s.set_hook(Some(Arc::new(move |_w: &Warning| *n.lock().unwrap() += 1)));
        for _ in 0..3 {
            warn(WarningCategory::DeprecationWarning, "a").unwrap();
        }
        warn(WarningCategory::DeprecationWarning, "b").unwrap();
        assert_eq!(s.recorded().len(), 2);
        assert_eq!(*seen.lock().unwrap(), 2);
        s.set_action(Some(WarningAction::Always));
        warn(WarningCategory::DeprecationWarning, "a").unwrap();
        assert_eq!(s.take().len(), 3);
        s.set_action(Some(WarningAction::Ignore));
        warn(WarningCategory::DeprecationWarning, "a").unwrap();
        assert!(s.recorded().is_empty());
        s.set_action(Some(WarningAction::Error));
        let e = warn(WarningCategory::DeprecationWarning, "c").unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::DeprecationWarning, "c")
        );
        assert!(s.recorded().is_empty());
    }
}
