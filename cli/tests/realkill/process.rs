//! Child processes with a deadline: a pydbm command that hangs is a finding, not a hung test.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How a command ended.
#[derive(Debug)]
pub struct Finished {
    /// Exit status (`None`: killed by us at the deadline).
    pub status: Option<ExitStatus>,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl Finished {
    /// Exit code, or `None` when killed by a signal or at the deadline.
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// A one-line description: `exit N`, `signal S` or `still running after the deadline`.
    pub fn describe(&self) -> String {
        match self.status {
            None => "still running at the deadline (killed)".to_string(),
            Some(s) => match (s.code(), s.signal()) {
                (Some(c), _) => format!("exit {c}"),
                (None, Some(sig)) => format!("killed by signal {sig}"),
                (None, None) => format!("{s:?}"),
            },
        }
    }
}

/// Drains a child's pipe on a thread (a full pipe would stall the child).
pub fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        // A read error ends the capture; what was read so far is kept.
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

/// Waits for `child` until `deadline`, SIGKILLing it then; collects its output.
pub fn finish(mut child: Child, deadline: Duration) -> Finished {
    let out = drain(child.stdout.take().expect("stdout is piped"));
    let err = drain(child.stderr.take().expect("stderr is piped"));
    let start = Instant::now();
    let status = loop {
        match child.try_wait().expect("waitpid on our own child") {
            Some(s) => break Some(s),
            None if start.elapsed() > deadline => {
                // Already-exited races are harmless: kill then reaps.
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            None => thread::sleep(Duration::from_millis(1)),
        }
    };
    Finished {
        status,
        stdout: out.join().expect("the stdout drain thread does not panic"),
        stderr: String::from_utf8_lossy(
            &err.join().expect("the stderr drain thread does not panic"),
        )
        .into_owned(),
    }
}

/// Runs `cmd` (stdin closed, output captured) with a deadline.
pub fn run(cmd: &mut Command, deadline: Duration) -> Finished {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn a pydbm command");
    finish(child, deadline)
}

/// Runs `cmd` with `input` on its stdin (then closed), output captured, with a deadline.
pub fn run_with_stdin(cmd: &mut Command, input: &[u8], deadline: Duration) -> Finished {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn a pydbm command");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        // A child that exits before reading ends the write with EPIPE: its exit says why.
        let _ = stdin.write_all(input);
    }
    finish(child, deadline)
}
