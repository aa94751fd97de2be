//! Exit reasons: every process ends with exactly one.

use std::fmt;

use crate::Pid;

/// Why a process ended. The textual form (`Display`) is the contract's: it is
/// what links, monitors, supervisors and the lifecycle log all see, and it is
/// always a single line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// The body returned, or asked for a normal exit.
    Normal,
    /// `kill` hit it. Not trappable.
    Killed,
    /// A trap, a panic, a non-zero exit code or an explicit non-empty reason.
    Crashed(String),
    /// The process could not be built; it never ran its body.
    FailedToStart(String),
    /// A linked process ended abnormally and this one did not trap exits.
    Linked(Pid, Box<ExitReason>),
    /// The node (or a supervisor) stopped it in an orderly way.
    Shutdown,
}

impl ExitReason {
    /// A crash with `text`, folded onto one line.
    pub fn crashed(text: impl AsRef<str>) -> Self {
        ExitReason::Crashed(one_line(text.as_ref()))
    }

    /// A start failure with `text`, folded onto one line.
    pub fn failed_to_start(text: impl AsRef<str>) -> Self {
        ExitReason::FailedToStart(one_line(text.as_ref()))
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
    /// messages).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || ParseExitReasonError(text.to_string());
        Ok(match text {
            "normal" => ExitReason::Normal,
            "killed" => ExitReason::Killed,
            "shutdown" => ExitReason::Shutdown,
            _ => {
                if let Some(t) = text.strip_prefix("crashed: ") {
                    ExitReason::Crashed(t.to_string())
                } else if let Some(t) = text.strip_prefix("failed to start: ") {
                    ExitReason::FailedToStart(t.to_string())
                } else if let Some(rest) = text.strip_prefix("linked: ") {
                    let (pid, inner) = rest.split_once(' ').ok_or_else(bad)?;
                    let pid = pid.parse().map_err(|_| bad())?;
                    ExitReason::Linked(Pid(pid), Box::new(inner.parse()?))
                } else {
                    return Err(bad());
                }
            }
        })
    }
}

/// Reasons travel as single lines: a multi-line panic message or trap text
/// would break the lifecycle log and the `exit` message format.
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        if i > 0 {
            out.push_str("; ");
        }
        out.push_str(line);
    }
    out
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => f.write_str("normal"),
            ExitReason::Killed => f.write_str("killed"),
            ExitReason::Crashed(t) => write!(f, "crashed: {t}"),
            ExitReason::FailedToStart(t) => write!(f, "failed to start: {t}"),
            ExitReason::Linked(pid, r) => write!(f, "linked: {pid} {r}"),
            ExitReason::Shutdown => f.write_str("shutdown"),
        }
    }
}

/// What a process body may return; it becomes the exit reason.
///
/// `()` is a normal exit, an [`ExitReason`] is itself, and a `Result` is
/// normal on `Ok` and a crash carrying the error's text on `Err`.
pub trait IntoExitReason {
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
