//! The `etcd://` address: endpoints, key prefix, credentials and timeout in one string.
//!
//! Form: `etcd://[USER[:PASSWORD]@]HOST:PORT[,HOST:PORT…]/PREFIX[?timeout=SECONDS]`.
//! Every record of the database is the etcd key `/PREFIX/` + key (docs/etcd.md, "Key layout").

use std::time::Duration;

use pydbm_engine::{Error, Result};

/// The scheme every etcd address starts with.
pub const SCHEME: &str = "etcd://";

/// Whether `text` is an etcd address (starts with `etcd://`); says nothing about validity.
pub fn is_etcd_address(text: &str) -> bool {
    text.starts_with(SCHEME)
}

/// A parsed `etcd://` address.
#[derive(Clone, PartialEq, Eq)]
pub struct EtcdAddress {
    /// `HOST:PORT` of each member given, in order (at least one).
    pub endpoints: Vec<String>,
    /// The key prefix with its leading slash and without a trailing one, e.g. `/app`.
    pub prefix: String,
    /// User name and password for etcd authentication, when the address has them.
    pub user: Option<(String, String)>,
    /// The `timeout=SECONDS` query parameter, when present.
    pub timeout: Option<Duration>,
}

impl std::fmt::Debug for EtcdAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password never reaches a log line.
        f.debug_struct("EtcdAddress")
            .field("endpoints", &self.endpoints)
            .field("prefix", &self.prefix)
            .field("user", &self.user.as_ref().map(|(u, _)| u))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl EtcdAddress {
    /// Parses `etcd://[USER[:PASSWORD]@]HOST:PORT[,HOST:PORT…]/PREFIX[?timeout=SECONDS]`.
    ///
    /// The prefix is one or more `/`-separated non-empty segments (no trailing `/`); it may
    /// not contain `?`. Fails with [`Error::BadArgument`] naming the address (password
    /// hidden) and what was expected.
    pub fn parse(text: &str) -> Result<EtcdAddress> {
        let bad = |what: &str| {
            Error::BadArgument(format!(
                "etcd address {:?}: {what} (expected etcd://HOST:PORT[,HOST:PORT...]/PREFIX)",
                redact(text)
            ))
        };
        let rest = text
            .strip_prefix(SCHEME)
            .ok_or_else(|| bad("does not start with etcd://"))?;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let slash = rest
            .find('/')
            .ok_or_else(|| bad("no /PREFIX after the endpoints"))?;
        let (authority, prefix) = rest.split_at(slash);
        let (user, hosts) = match authority.rsplit_once('@') {
            Some((userinfo, hosts)) => {
                let (name, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                if name.is_empty() {
                    return Err(bad("empty user name before @"));
                }
                (Some((name.to_string(), password.to_string())), hosts)
            }
            None => (None, authority),
        };
        let mut endpoints = Vec::new();
        for host in hosts.split(',') {
            let (h, port) = host
                .rsplit_once(':')
                .ok_or_else(|| bad(&format!("endpoint {host:?} has no :PORT")))?;
            if h.is_empty() || port.parse::<u16>().is_err() {
                return Err(bad(&format!("endpoint {host:?} is not HOST:PORT")));
            }
            endpoints.push(host.to_string());
        }
        if prefix.len() < 2 || prefix.ends_with('/') || prefix.contains("//") {
            return Err(bad(&format!(
                "prefix {prefix:?} must be /NAME[/NAME...] without a trailing /"
            )));
        }
        let mut timeout = None;
        if let Some(query) = query {
            for pair in query.split('&') {
                match pair.split_once('=') {
                    Some(("timeout", secs)) => {
                        let secs: f64 = secs
                            .parse()
                            .ok()
                            .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
                            .ok_or_else(|| {
                                bad(&format!(
                                    "timeout {secs:?} is not a number of seconds in (0, 86400]"
                                ))
                            })?;
                        timeout = Some(Duration::from_secs_f64(secs));
                    }
                    _ => {
                        return Err(bad(&format!(
                            "unknown query parameter {pair:?} (only timeout=SECONDS)"
                        )))
                    }
                }
            }
        }
        Ok(EtcdAddress {
            endpoints,
            prefix: prefix.to_string(),
            user,
            timeout,
        })
    }

    /// The address as it is shown in messages and [`pydbm_engine::Dbm::path`]: without the
    /// password and without the query.
    pub fn display(&self) -> String {
        let user = match &self.user {
            Some((name, _)) => format!("{name}@"),
            None => String::new(),
        };
        format!("{SCHEME}{user}{}{}", self.endpoints.join(","), self.prefix)
    }

    /// The etcd key holding the record `key`: the prefix, `/`, then the key's bytes.
    pub fn record_key(&self, key: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.prefix.len() + 1 + key.len());
        k.extend_from_slice(self.prefix.as_bytes());
        k.push(b'/');
        k.extend_from_slice(key);
        k
    }

    /// The half-open etcd key range `[start, end)` holding every record: `PREFIX/` up to
    /// `PREFIX0` (`'0'` is the byte after `'/'`).
    pub fn record_range(&self) -> (Vec<u8>, Vec<u8>) {
        let start = self.record_key(b"");
        let mut end = self.prefix.as_bytes().to_vec();
        end.push(b'/' + 1);
        (start, end)
    }
}

/// `text` with any password in it replaced by `***`.
fn redact(text: &str) -> String {
    let Some(rest) = text.strip_prefix(SCHEME) else {
        return text.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((userinfo, _)) => match userinfo.split_once(':') {
            Some((name, _)) => format!("{SCHEME}{name}:***{}", &rest[userinfo.len()..]),
            None => text.to_string(),
        },
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_endpoints_prefix_user_and_timeout() {
        let a = EtcdAddress::parse("etcd://127.0.0.1:2379,localhost:22379/app/jobs").unwrap();
        assert_eq!(a.endpoints, ["127.0.0.1:2379", "localhost:22379"]);
        assert_eq!(a.prefix, "/app/jobs");
        assert_eq!(a.user, None);
        assert_eq!(a.timeout, None);
        assert_eq!(a.record_key(b"k\x00"), b"/app/jobs/k\x00");
        assert_eq!(
            a.record_range(),
            (b"/app/jobs/".to_vec(), b"/app/jobs0".to_vec())
        );
        let a = EtcdAddress::parse("etcd://root:s3cret@h:1/p?timeout=2.5").unwrap();
        assert_eq!(a.user, Some(("root".into(), "s3cret".into())));
        assert_eq!(a.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(a.display(), "etcd://root@h:1/p");
        assert!(!format!("{a:?}").contains("s3cret"));
    }

    #[test]
    fn rejects_malformed_addresses_without_leaking_the_password() {
        for bad in [
            "etcd://h:1",
            "etcd://h:1/",
            "etcd://h:1/app/",
            "etcd://h:1//app",
            "etcd://h/app",
            "etcd://h:99999/app",
            "etcd://:1/app",
            "etcd://h:1/app?timeout=0",
            "etcd://h:1/app?timeout=x",
            "etcd://h:1/app?retries=3",
            "etcd://@h:1/app",
            "gdbm://h:1/app",
        ] {
            let err = EtcdAddress::parse(bad).expect_err(bad).to_string();
            assert!(err.contains("expected etcd://HOST:PORT"), "{bad}: {err}");
        }
        let err = EtcdAddress::parse("etcd://u:hunter2@h/app")
            .expect_err("no port")
            .to_string();
        assert!(!err.contains("hunter2") && err.contains("u:***"), "{err}");
    }
}
