//! User and group names of numeric ids, from the system's account databases
//! (`/etc/passwd`, `/etc/group`): what `gdbm_dump` writes beside a file's owner ids
//! (gdbm spec §17.1). Only the local files are read (no NSS services); an id that is not
//! listed there, or a system without them, has no name.

use std::path::Path;

/// The name of user `uid` in `/etc/passwd`, if listed.
pub fn user_name(uid: u32) -> Option<String> {
    name_in(Path::new("/etc/passwd"), uid)
}

/// The name of group `gid` in `/etc/group`, if listed.
pub fn group_name(gid: u32) -> Option<String> {
    name_in(Path::new("/etc/group"), gid)
}

/// The first field of the first line of `file` (colon-separated, `name:password:id:...`)
/// whose third field is `id`.
fn name_in(file: &Path, id: u32) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    name_in_text(&text, id)
}

fn name_in_text(text: &str, id: u32) -> Option<String> {
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let _ = f.next();
        (f.next()?.parse::<u32>().ok()? == id).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::name_in_text;

    #[test]
    fn finds_the_line_whose_third_field_is_the_id() {
        let text = "root:x:0:0:root:/root:/bin/sh\nbad line\ndaemon:x:1:1::/:/bin/false\n";
        assert_eq!(name_in_text(text, 1).as_deref(), Some("daemon"));
        assert_eq!(name_in_text(text, 0).as_deref(), Some("root"));
        assert_eq!(name_in_text(text, 7), None);
    }

    #[test]
    fn root_is_user_zero_here() {
        // Every Linux system this runs on lists root as uid 0 in /etc/passwd.
        assert_eq!(super::user_name(0).as_deref(), Some("root"));
    }
}
