//! A bench binary re-executed as a child process of its own (`EXE CHILD_ARG COUNT DELAY_MS`),
//! for the servers or proxies a bench starts, so that the bench process's CPU, threads and peak
//! RSS are the client's own. Parent and child speak one line at a time over the child's
//! stdin/stdout; the child exits when its stdin closes (when the parent drops [`BenchChild`] or
//! dies). Both sides are here: [`BenchChild`] for the parent, [`child_args`],
//! [`wait_for_parent`] and [`answer_until_parent_closes`] for the child's main.

use std::io::{self, BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

/// A running child: this binary re-executed with a child argument.
pub struct BenchChild {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// The child argument, to say which child an error comes from.
    child_arg: &'static str,
}

impl BenchChild {
    /// Re-executes this binary as `EXE child_arg COUNT DELAY_MS` (the one-way delay in ms),
    /// with its stdin and stdout piped to this process.
    pub fn spawn(child_arg: &'static str, count: usize, one_way: Duration) -> io::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg(child_arg)
            .arg(count.to_string())
            .arg(one_way.as_millis().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Ok(Self {
            child,
            stdin,
            stdout,
            child_arg,
        })
    }

    /// The child's next output line, trimmed; an error if it closed its output.
    pub fn read_line(&mut self) -> io::Result<String> {
        read_line(&mut self.stdout)
            .map_err(|e| io::Error::new(e.kind(), format!("{} child: {e}", self.child_arg)))
    }

    /// Sends the child one line.
    #[allow(
        dead_code,
        reason = "the policy bench's fake child is never written to"
    )]
    pub fn write_line(&mut self, line: &str) -> io::Result<()> {
        let stdin = self.stdin.as_mut().expect("child running");
        writeln!(stdin, "{line}")?;
        stdin.flush()
    }

    /// The child's process id (for its `/proc/PID/…` counters).
    #[allow(dead_code, reason = "the sync bench does not count its proxies' CPU")]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for BenchChild {
    fn drop(&mut self) {
        // Closing its stdin ends the child; wait so that no zombie is left behind.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// One line from `from`, trimmed; an error if it is at its end.
pub fn read_line(from: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    if from.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "closed its output",
        ));
    }
    Ok(line.trim().to_owned())
}

/// The child's side: what follows its child argument, `COUNT DELAY_MS`, as the count and the
/// one-way delay. Panics (the child's end) if they are not numbers.
pub fn child_args(args: &[String]) -> (usize, Duration) {
    let count: usize = args.first().and_then(|a| a.parse().ok()).expect("count");
    let delay_ms: u64 = args.get(1).and_then(|a| a.parse().ok()).expect("delay");
    (count, Duration::from_millis(delay_ms))
}

/// The child's side: returns once the parent closes the child's stdin (or dies).
#[allow(
    dead_code,
    reason = "the proxy child answers its parent's questions instead"
)]
pub fn wait_for_parent(input: &mut impl BufRead) {
    answer_until_parent_closes(input, &mut io::sink(), |_| None);
}

/// The child's side: until the parent closes the child's stdin (or dies), writes
/// `answer(line)` to `out` for each line the parent sends, when there is an answer.
pub fn answer_until_parent_closes(
    input: &mut impl BufRead,
    out: &mut impl Write,
    mut answer: impl FnMut(&str) -> Option<String>,
) {
    let mut line = String::new();
    while input.read_line(&mut line).is_ok_and(|n| n > 0) {
        if let Some(reply) = answer(line.trim())
            && writeln!(out, "{reply}").and_then(|()| out.flush()).is_err()
        {
            return;
        }
        line.clear();
    }
}
