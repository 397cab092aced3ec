//! [`Error`] and [`ErrorKind`]: the library's status codes as a Rust enum,
//! and its messages. Every text comes from the C side (`inprof_last_error`,
//! `inprof_strerror`), so that Rust and C users read the same words.

use std::ffi::{c_char, CStr};
use std::fmt;

use crate::sys;

/// The library's status, by its `INPROF_ERR_*` code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An argument or configuration value is invalid (the message names it).
    Invalid,
    Running,
    NotRunning,
    /// The profiling signal already has a handler that is not inprof's.
    SignalInUse,
    /// A system call failed (the message says which).
    System,
    NoMemory,
    Timeout,
    /// The output directory does not exist or is not writable.
    Output,
    /// A previous stop timed out and its collector has not finished yet.
    Busy,
    /// The library and this crate (or a struct) disagree on the version.
    Version,
    /// A bounded resource is exhausted: this thread already has the most
    /// labels it can hold, or the process-wide label table is full.
    Limit,
    /// A status this crate does not know.
    Other(i32),
}

impl ErrorKind {
    /// The kind of a non-zero `INPROF_ERR_*` status.
    pub fn from_code(code: i32) -> ErrorKind {
        match code {
            sys::INPROF_ERR_INVALID => ErrorKind::Invalid,
            sys::INPROF_ERR_RUNNING => ErrorKind::Running,
            sys::INPROF_ERR_NOT_RUNNING => ErrorKind::NotRunning,
            sys::INPROF_ERR_SIGNAL_IN_USE => ErrorKind::SignalInUse,
            sys::INPROF_ERR_SYSTEM => ErrorKind::System,
            sys::INPROF_ERR_NO_MEMORY => ErrorKind::NoMemory,
            sys::INPROF_ERR_TIMEOUT => ErrorKind::Timeout,
            sys::INPROF_ERR_OUTPUT => ErrorKind::Output,
            sys::INPROF_ERR_BUSY => ErrorKind::Busy,
            sys::INPROF_ERR_VERSION => ErrorKind::Version,
            sys::INPROF_ERR_LIMIT => ErrorKind::Limit,
            other => ErrorKind::Other(other),
        }
    }

    /// The library's numeric status (`INPROF_ERR_*`).
    pub fn code(self) -> i32 {
        match self {
            ErrorKind::Invalid => sys::INPROF_ERR_INVALID,
            ErrorKind::Running => sys::INPROF_ERR_RUNNING,
            ErrorKind::NotRunning => sys::INPROF_ERR_NOT_RUNNING,
            ErrorKind::SignalInUse => sys::INPROF_ERR_SIGNAL_IN_USE,
            ErrorKind::System => sys::INPROF_ERR_SYSTEM,
            ErrorKind::NoMemory => sys::INPROF_ERR_NO_MEMORY,
            ErrorKind::Timeout => sys::INPROF_ERR_TIMEOUT,
            ErrorKind::Output => sys::INPROF_ERR_OUTPUT,
            ErrorKind::Busy => sys::INPROF_ERR_BUSY,
            ErrorKind::Version => sys::INPROF_ERR_VERSION,
            ErrorKind::Limit => sys::INPROF_ERR_LIMIT,
            ErrorKind::Other(code) => code,
        }
    }
}

/// The library's one-line description of the status (`inprof_strerror`).
impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&strerror(self.code()))
    }
}

/// A failure reported by the library. Displays as the library's message,
/// for example `invalid INPROF_CPU_HZ="abc": expected an integer from 0 to
/// 10000` (`inprof_last_error()`, or `inprof_strerror()` when the library
/// left no message), so `?` from `main` prints what a C program would log.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// An error this crate detects itself (before calling the library).
    pub(crate) fn new(kind: ErrorKind, message: String) -> Error {
        Error { kind, message }
    }

    /// The error of a failed call that returned `status`, with the message
    /// the library left for this thread.
    pub(crate) fn from_status(status: sys::inprof_status) -> Error {
        // SAFETY: the library returns NULL or a NUL-terminated string that
        // stays valid until this thread's next call into it.
        let message = unsafe { cstr_to_string(sys::inprof_last_error()) };
        let kind = ErrorKind::from_code(status);
        let message = if message.is_empty() { strerror(status) } else { message };
        Error { kind, message }
    }

    /// The status as an enum.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The library's numeric status code (`INPROF_ERR_*`).
    pub fn status(&self) -> i32 {
        self.kind.code()
    }

    /// The library's explanation, e.g. which environment variable is malformed.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// What `main` returning `Err` prints: the message, then the status. `{:#?}`
/// shows the fields.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            f.debug_struct("Error").field("kind", &self.kind).field("message", &self.message).finish()
        } else {
            let kind = self.kind.to_string();
            if self.message.contains(&kind) {
                f.write_str(&self.message)
            } else {
                write!(f, "{} ({kind})", self.message)
            }
        }
    }
}

impl std::error::Error for Error {}

pub(crate) fn status_to_result(st: sys::inprof_status) -> Result<(), Error> {
    if st == sys::INPROF_OK {
        Ok(())
    } else {
        Err(Error::from_status(st))
    }
}

fn strerror(status: sys::inprof_status) -> String {
    // SAFETY: inprof_strerror returns a static string for every value.
    unsafe { cstr_to_string(sys::inprof_strerror(status)) }
}

/// # Safety
/// `p` is NULL or points to a NUL-terminated string.
pub(crate) unsafe fn cstr_to_string(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}
