//! Exit reasons: every process ends with exactly one.
//!
//! A reason is text a guest partly controls (`exit(reason)`, a trap's
//! message), and it ends up in places a guest must not be able to corrupt:
//! the lifecycle log, an operator's terminal, `exit` and `down` messages.
//! So the text inside a reason is a [`ReasonText`], which can only be made
//! through a constructor that folds it onto one line, escapes every
//! character that could forge a line or move a cursor, and caps its
//! length; and a `linked` reason never nests (it carries the first
//! non-`linked` cause of a cascade), so no reason is deeper than two
//! levels however long a chain of links a guest builds.

use std::fmt;
use std::ops::Deref;

use crate::Pid;

/// Why a process ended. The textual form (`Display`) is the contract's: it is
/// what links, monitors, supervisors and the lifecycle log all see, and it is
/// always a single line of at most [`MAX_REASON_BYTES`] bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// The body returned, or asked for a normal exit.
    Normal,
    /// `kill` hit it. Not trappable.
    Killed,
    /// A trap, a panic or an explicit non-empty reason.
    Crashed(ReasonText),
    /// The guest asked to exit with a non-zero code (`proc_exit(n)`);
    /// reads as `crashed: exit code <n>`.
    ExitCode(i32),
    /// The process could not be built; it never ran its body.
    FailedToStart(ReasonText),
    /// A linked process ended abnormally and this one did not trap exits.
    /// The pid is the linked process that ended; the reason is the first
    /// non-`linked` cause of the cascade (see [`ExitReason::linked`]), so
    /// it is never itself `Linked`.
    Linked(Pid, Box<ExitReason>),
    /// The node (or a supervisor) stopped it in an orderly way.
    Shutdown,
    /// The process is on another node of a cluster, and that node became
    /// unreachable: what its links and monitors on this node see.
    NoConnection,
    /// What a link or monitor of a process that was already gone brings
    /// (a remote one: locally such a link is refused at once).
    NoProc,
}

/// The longest textual form of a reason, in bytes.
pub const MAX_REASON_BYTES: usize = 1024;

/// The longest text a [`ReasonText`] keeps: room is left for the longest
/// prefix a reason can carry (`linked: <20-digit pid> failed to start: `),
/// so that every reason's textual form fits [`MAX_REASON_BYTES`].
const MAX_TEXT_BYTES: usize = MAX_REASON_BYTES - 64;

/// The free text of a `crashed` or `failed to start` reason: one line,
/// escaped, capped. Made only by [`ReasonText::new`] (or `From`), so no
/// reason can carry a raw control character.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReasonText(Box<str>);

impl ReasonText {
    /// `text` folded onto one line (lines joined by `; `), with control
    /// characters (C0, DEL, C1) escaped as `\xNN`, the line and paragraph
    /// separators and the bidirectional controls as `\u{NNNN}`, and cut
    /// short of [`MAX_REASON_BYTES`], leaving room for a reason's prefix
    /// (ending in `...` when cut).
    pub fn new(text: &str) -> Self {
        let mut out = String::with_capacity(text.len().min(MAX_TEXT_BYTES));
        let mut first = true;
        'lines: for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if !first {
                out.push_str("; ");
            }
            first = false;
            for c in line.chars() {
                let before = out.len();
                push_escaped(&mut out, c);
                if out.len() > MAX_TEXT_BYTES - 3 {
                    out.truncate(before);
                    out.push_str("...");
                    break 'lines;
                }
            }
        }
        ReasonText(out.into_boxed_str())
    }

    /// The text, already escaped and capped.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Writes `c`, escaped if it could forge a line, move a terminal's cursor
/// or reorder what a reader sees.
fn push_escaped(out: &mut String, c: char) {
    use std::fmt::Write as _;
    let code = c as u32;
    // Writing to a String cannot fail.
    match code {
        0x00..=0x1f | 0x7f..=0x9f => {
            let _ = write!(out, "\\x{code:02x}");
        }
        0x2028 | 0x2029 | 0x202a..=0x202e | 0x2066..=0x2069 => {
            let _ = write!(out, "\\u{{{code:04x}}}");
        }
        _ => out.push(c),
    }
}

impl Deref for ReasonText {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReasonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for ReasonText {
    fn from(text: &str) -> Self {
        ReasonText::new(text)
    }
}

impl From<String> for ReasonText {
    fn from(text: String) -> Self {
        ReasonText::new(&text)
    }
}

impl PartialEq<str> for ReasonText {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for ReasonText {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl ExitReason {
    /// A crash with `text`, folded onto one line and escaped.
    pub fn crashed(text: impl AsRef<str>) -> Self {
        ExitReason::Crashed(ReasonText::new(text.as_ref()))
    }

    /// A start failure with `text`, folded onto one line and escaped.
    pub fn failed_to_start(text: impl AsRef<str>) -> Self {
        ExitReason::FailedToStart(ReasonText::new(text.as_ref()))
    }

    /// The exit of a process whose linked process `pid` ended with
    /// `reason`: the cause of a cascade is its first non-`linked` reason,
    /// so a chain of any length reads `linked: <pid> <cause>`.
    pub fn linked(pid: Pid, reason: ExitReason) -> Self {
        let cause = match reason {
            ExitReason::Linked(_, cause) => cause,
            other => Box::new(other),
        };
        ExitReason::Linked(pid, cause)
    }

    /// The reason a guest asked for with `exit(reason)`: empty is normal,
    /// anything else is a crash carrying that text.
    pub fn from_guest(text: &str) -> Self {
        if text.is_empty() {
            ExitReason::Normal
        } else {
            ExitReason::crashed(text)
        }
    }

    /// `proc_exit(code)`: zero is normal, anything else an exit code.
    pub fn from_exit_code(code: i32) -> Self {
        match code {
            0 => ExitReason::Normal,
            n => ExitReason::ExitCode(n),
        }
    }

    /// The code the process asked to exit with, if it did
    /// (`rusm run` exits with it, as `wasmtime run` does).
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            ExitReason::ExitCode(n) => Some(*n),
            _ => None,
        }
    }

    /// `normal` and `shutdown` are the only reasons that do not propagate
    /// over links.
    pub fn is_normal(&self) -> bool {
        matches!(self, ExitReason::Normal | ExitReason::Shutdown)
    }

    /// `is_normal` on the textual form (what `exit` and `down` messages carry).
    pub fn text_is_normal(text: &str) -> bool {
        text == "normal" || text == "shutdown"
    }
}

/// The textual form could not be read back.
#[derive(Debug, thiserror::Error)]
#[error("not an exit reason: {0:?}")]
pub struct ParseExitReasonError(String);

impl std::str::FromStr for ExitReason {
    type Err = ParseExitReasonError;

    /// Reads back what `Display` wrote (as found in `exit` and `down`
    /// messages). Not recursive: a `linked` reason is read as its pid and
    /// its cause, and a cause that is itself `linked` (which `Display`
    /// never writes) is flattened.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || ParseExitReasonError(text.chars().take(200).collect());
        let mut rest = text;
        let mut linked_to = None;
        while let Some(after) = rest.strip_prefix("linked: ") {
            let (pid, inner) = after.split_once(' ').ok_or_else(bad)?;
            let pid = pid.parse().map_err(|_| bad())?;
            linked_to.get_or_insert(Pid(pid));
            rest = inner;
        }
        let cause = match rest {
            "normal" => ExitReason::Normal,
            "killed" => ExitReason::Killed,
            "shutdown" => ExitReason::Shutdown,
            "noconnection" => ExitReason::NoConnection,
            "noproc" => ExitReason::NoProc,
            _ => {
                if let Some(t) = rest.strip_prefix("crashed: ") {
                    match t.strip_prefix("exit code ").map(str::parse::<i32>) {
                        Some(Ok(n)) if n != 0 => ExitReason::ExitCode(n),
                        _ => ExitReason::crashed(t),
                    }
                } else if let Some(t) = rest.strip_prefix("failed to start: ") {
                    ExitReason::failed_to_start(t)
                } else {
                    return Err(bad());
                }
            }
        };
        Ok(match linked_to {
            Some(pid) => ExitReason::Linked(pid, Box::new(cause)),
            None => cause,
        })
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Iterative over `linked`: a hand-built nested value prints its
        // pids in order, never by recursion.
        let mut reason = self;
        while let ExitReason::Linked(pid, cause) = reason {
            write!(f, "linked: {pid} ")?;
            reason = cause;
        }
        match reason {
            ExitReason::Normal => f.write_str("normal"),
            ExitReason::Killed => f.write_str("killed"),
            ExitReason::Crashed(t) => write!(f, "crashed: {t}"),
            ExitReason::ExitCode(n) => write!(f, "crashed: exit code {n}"),
            ExitReason::FailedToStart(t) => write!(f, "failed to start: {t}"),
            ExitReason::Shutdown => f.write_str("shutdown"),
            ExitReason::NoConnection => f.write_str("noconnection"),
            ExitReason::NoProc => f.write_str("noproc"),
            ExitReason::Linked(..) => unreachable!("the loop above consumed every `linked`"),
        }
    }
}

/// What a process body may return; it becomes the exit reason.
///
/// `()` is a normal exit, an [`ExitReason`] is itself, and a `Result` is
/// normal on `Ok` and a crash carrying the error's text on `Err`.
pub trait IntoExitReason {
    /// The exit reason this body output stands for.
    fn into_exit_reason(self) -> ExitReason;
}

impl IntoExitReason for () {
    fn into_exit_reason(self) -> ExitReason {
        ExitReason::Normal
    }
}

impl IntoExitReason for ExitReason {
    fn into_exit_reason(self) -> ExitReason {
        self
    }
}

impl<T: IntoExitReason, E: fmt::Display> IntoExitReason for Result<T, E> {
    fn into_exit_reason(self) -> ExitReason {
        match self {
            Ok(v) => v.into_exit_reason(),
            Err(e) => ExitReason::crashed(e.to_string()),
        }
    }
}

/// Names the never type `!` on stable Rust, so a body that loops forever
/// (whose async block has output `!` under edition 2024) is accepted.
pub trait FnOutput {
    type Output;
}

impl<O> FnOutput for fn() -> O {
    type Output = O;
}

type Never = <fn() -> ! as FnOutput>::Output;

impl IntoExitReason for Never {
    fn into_exit_reason(self) -> ExitReason {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_escaped_one_line_and_capped() {
        let r = ExitReason::crashed("a\rb\x1b[2Jc\u{2028}d\u{202e}e\u{85}f\ng");
        assert_eq!(
            r.to_string(),
            "crashed: a\\x0db\\x1b[2Jc\\u{2028}d\\u{202e}e\\x85f; g"
        );
        let long = ExitReason::linked(Pid(u64::MAX), ExitReason::failed_to_start("é".repeat(5000)));
        let text = long.to_string();
        assert!(text.len() <= MAX_REASON_BYTES, "{}", text.len());
        assert!(text.ends_with("..."));
    }

    #[test]
    fn linked_reasons_never_nest() {
        let mut r = ExitReason::crashed("unreachable");
        for pid in 1..100_000 {
            r = ExitReason::linked(Pid(pid), r);
        }
        assert_eq!(r.to_string(), "linked: 99999 crashed: unreachable");
        let parsed: ExitReason = "linked: 3 linked: 2 crashed: exit code 4".parse().unwrap();
        assert_eq!(
            parsed,
            ExitReason::Linked(Pid(3), Box::new(ExitReason::ExitCode(4)))
        );
        assert_eq!(parsed.to_string(), "linked: 3 crashed: exit code 4");
    }
}
