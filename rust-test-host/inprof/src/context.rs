//! Context on samples: span ids, endpoints and custom labels of the calling
//! thread ([`set_span`], [`set_endpoint`], [`count_endpoint`], [`labels`],
//! [`with_labels`]), safe wrappers over `inprof_set_span` and friends.
//!
//! Why it is built this way:
//! - These calls run on every span enter and exit, so the strings the C
//!   side needs NUL-terminated are copied into a stack buffer when short
//!   (the common case), not into a `CString`.
//! - The C library keeps one label value per key and thread, with no
//!   history. Restoring "what was there before" is kept here: each thread
//!   has a stack of frames, one per live [`LabelGuard`], holding its pairs
//!   NUL-terminated. A thread's effective labels are the frames merged
//!   bottom to top (a later frame wins on a shared key). Dropping a guard
//!   removes its frame, wherever it is in the stack, and re-sets only the
//!   keys whose effective value changed, so guards dropped out of order
//!   still leave exactly the labels of the guards still alive.
//! - Pairs are kept NUL-terminated in a small per-thread cache by content,
//!   so a pair used before costs no allocation and reaches the library with
//!   the same pointers (its fast path is keyed by them); frames' pair lists
//!   are recycled.
//! - Labels set through the raw `sys` functions are outside this
//!   bookkeeping: a guard's drop may overwrite or remove them.

use std::cell::RefCell;
use std::ffi::c_char;
use std::marker::PhantomData;
use std::rc::Rc;

use crate::error::{status_to_result, Error, ErrorKind};
use crate::sys;

/// Strings up to this many bytes are NUL-terminated on the stack.
const STACK_STR: usize = 127;

/// Calls `f` with `s` NUL-terminated. A string holding a NUL is seen by
/// the C side up to that NUL, as C would read it.
#[inline]
fn with_cstr<R>(s: &str, f: impl FnOnce(*const c_char) -> R) -> R {
    let b = s.as_bytes();
    if b.len() <= STACK_STR {
        let mut buf = [0u8; STACK_STR + 1];
        buf[..b.len()].copy_from_slice(b);
        f(buf.as_ptr().cast())
    } else {
        let mut v = Vec::with_capacity(b.len() + 1);
        v.extend_from_slice(b);
        v.push(0);
        f(v.as_ptr().cast())
    }
}

/// Sets the calling thread's trace context: CPU samples taken on this
/// thread, and heap samples of allocations made here, carry the numeric
/// labels `local root span id` and `span id` until the next call.
/// `set_span(0, 0)` clears it.
#[inline]
pub fn set_span(local_root_span_id: u64, span_id: u64) {
    // SAFETY: plain integers; the library accepts any call at any time.
    unsafe { sys::inprof_set_span(local_root_span_id, span_id) }
}

/// Names the endpoint of a local root span: samples whose local root span
/// id is `local_root_span_id` carry `trace endpoint` = `endpoint`. Cut at
/// 127 bytes (and at a NUL) by the library; `""` forgets the root's endpoint.
#[inline]
pub fn set_endpoint(local_root_span_id: u64, endpoint: &str) {
    // SAFETY: a NUL-terminated string valid for the call.
    with_cstr(endpoint, |p| unsafe { sys::inprof_set_endpoint(local_root_span_id, p) })
}

/// Adds `count` hits of `endpoint` to the current period's upload
/// (event.json `endpoint_counts`). Counted only while the profiler runs.
#[inline]
pub fn count_endpoint(endpoint: &str, count: u64) {
    // SAFETY: a NUL-terminated string valid for the call.
    with_cstr(endpoint, |p| unsafe { sys::inprof_count_endpoint(p, count) })
}

/// One (key, value) pair as the library reads it: `key\0value\0`, and
/// where the value starts.
#[derive(Clone)]
struct Pair {
    bytes: Rc<[u8]>,
    value_at: u32,
}

impl Pair {
    fn key(&self) -> &[u8] {
        &self.bytes[..self.value_at as usize - 1]
    }
    fn value(&self) -> &[u8] {
        &self.bytes[self.value_at as usize..self.bytes.len() - 1]
    }
    fn key_ptr(&self) -> *const c_char {
        self.bytes.as_ptr().cast()
    }
    fn value_ptr(&self) -> *const c_char {
        self.bytes[self.value_at as usize..].as_ptr().cast()
    }
}

/// One live guard's pairs.
struct Frame {
    id: u64,
    pairs: Vec<Pair>,
}

impl Frame {
    fn key(&self, i: usize) -> &[u8] {
        self.pairs[i].key()
    }
    /// The index of this frame's value for `key` (the last one wins).
    fn find(&self, key: &[u8]) -> Option<usize> {
        (0..self.pairs.len()).rev().find(|&i| self.key(i) == key)
    }
}

/// Recently used pairs per thread, by content. The library caches a
/// pair's interned id by its string pointers, so handing it the same
/// pointers for the same pair keeps its calls on that fast path; and a
/// pair seen before costs no allocation here.
const PAIR_CACHE: usize = 64;

#[derive(Default)]
struct Frames {
    live: Vec<Frame>,
    spare: Vec<Vec<Pair>>,
    next_id: u64,
    cache: Vec<Option<Pair>>,
}

impl Frames {
    fn pair(&mut self, key: &str, value: &str) -> Pair {
        // FNV-1a over key, a separator and value.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in key.as_bytes().iter().chain(&[0u8]).chain(value.as_bytes()) {
            h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
        if self.cache.is_empty() {
            self.cache.resize(PAIR_CACHE, None);
        }
        // FNV's last bytes reach only its low and middle bits: fold and
        // multiply before taking the top bits.
        let slot = &mut self.cache[((h ^ (h >> 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize % PAIR_CACHE];
        if let Some(p) = slot {
            if p.key() == key.as_bytes() && p.value() == value.as_bytes() {
                return p.clone();
            }
        }
        let mut bytes = Vec::with_capacity(key.len() + value.len() + 2);
        bytes.extend_from_slice(key.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(value.as_bytes());
        bytes.push(0);
        let p = Pair { bytes: bytes.into(), value_at: key.len() as u32 + 1 };
        *slot = Some(p.clone());
        p
    }

    /// The effective value of `key` from frames `live[..below]`, as a
    /// pointer to its NUL-terminated value, or NULL (no label).
    fn value_below(&self, below: usize, key: &[u8]) -> *const c_char {
        self.live[..below]
            .iter()
            .rev()
            .find_map(|f| f.find(key).map(|i| f.pairs[i].value_ptr()))
            .unwrap_or(std::ptr::null())
    }

    /// Re-sets key `i` of frame `at` to its value without that frame
    /// (unless a frame above it defines the key, which then still wins).
    fn restore_key(&self, at: usize, i: usize) {
        let frame = &self.live[at];
        let key = frame.key(i);
        if frame.find(key) != Some(i) || self.live[at + 1..].iter().any(|f| f.find(key).is_some()) {
            return;
        }
        let value = self.value_below(at, key);
        // SAFETY: NUL-terminated key and value (or NULL) owned by frames
        // that live across the call. The value was accepted before (or is a
        // removal), so this cannot fail on limits; nothing to report if it
        // did (the labels were changed behind this module's back).
        unsafe {
            sys::inprof_set_label(frame.pairs[i].key_ptr(), value);
        }
    }
}

thread_local! {
    static FRAMES: RefCell<Frames> = RefCell::new(Frames::default());
}

/// Sets custom labels on the calling thread's samples until the returned
/// guard is dropped, which restores the labels the thread had before (the
/// values of guards still alive, or none). Each label is a string label
/// `key`=`value` in the profile; a pair repeated in `pairs` takes its last
/// value.
///
/// Errors, with nothing changed: an empty key, a key over 63 bytes or a
/// value over 127 bytes, or a NUL in either ([`ErrorKind::Invalid`]); more
/// than 4 distinct keys on the thread at once, or the process-wide table of
/// distinct (key, value) pairs full (status `INPROF_ERR_LIMIT`).
///
/// ```
/// let _g = inprof::labels(&[("tenant", "a"), ("job", "export")])?;
/// // ... samples taken here carry tenant=a and job=export ...
/// # Ok::<(), inprof::Error>(())
/// ```
pub fn labels(pairs: &[(&str, &str)]) -> Result<LabelGuard, Error> {
    for (k, v) in pairs {
        if k.contains('\0') || v.contains('\0') {
            return Err(Error::new(ErrorKind::Invalid, format!("inprof::labels: NUL byte in label {k:?}={v:?}")));
        }
    }
    FRAMES
        .try_with(|cell| {
            let mut frames = cell.borrow_mut();
            let mut list = frames.spare.pop().unwrap_or_default();
            list.clear();
            for (k, v) in pairs {
                let p = frames.pair(k, v);
                list.push(p);
            }
            let mut frame = Frame { id: 0, pairs: list };
            for i in 0..frame.pairs.len() {
                let p = &frame.pairs[i];
                // SAFETY: NUL-terminated strings in `frame`, alive for the call.
                let st = unsafe { sys::inprof_set_label(p.key_ptr(), p.value_ptr()) };
                if let Err(e) = status_to_result(st) {
                    // Undo the keys this call already set, last first.
                    frame.pairs.truncate(i);
                    frames.live.push(frame);
                    let at = frames.live.len() - 1;
                    for j in (0..i).rev() {
                        frames.restore_key(at, j);
                    }
                    let mut list = frames.live.pop().unwrap().pairs;
                    list.clear();
                    frames.spare.push(list);
                    return Err(e);
                }
            }
            frames.next_id += 1;
            frame.id = frames.next_id;
            let id = frame.id;
            frames.live.push(frame);
            Ok(LabelGuard { id, _not_send: PhantomData })
        })
        .unwrap_or_else(|_| Err(Error::new(ErrorKind::Invalid, "inprof::labels: thread is exiting".into())))
}

/// Runs `f` with the labels of [`labels`] set, and restores the thread's
/// previous labels afterwards (also when `f` panics). Labels that cannot be
/// set do not stop `f`: it then runs without them (use [`labels`] to see
/// the error).
pub fn with_labels<R>(pairs: &[(&str, &str)], f: impl FnOnce() -> R) -> R {
    let _guard = labels(pairs);
    f()
}

/// The calling thread's labels as set through [`labels`] (a later guard's
/// value wins), sorted by key: what its samples carry now.
pub fn current_labels() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let _ = FRAMES.try_with(|cell| {
        let frames = cell.borrow();
        for f in &frames.live {
            for p in &f.pairs {
                let key = String::from_utf8_lossy(p.key()).into_owned();
                let value = String::from_utf8_lossy(p.value()).into_owned();
                match out.iter_mut().find(|(ok, _)| *ok == key) {
                    Some(e) => e.1 = value,
                    None => out.push((key, value)),
                }
            }
        }
    });
    out.sort();
    out
}

/// Restores the thread's previous labels when dropped (see [`labels`]).
/// Stays on the thread that made it (not `Send`).
#[must_use = "the labels are removed when the guard is dropped"]
pub struct LabelGuard {
    id: u64,
    _not_send: PhantomData<*const ()>,
}

impl std::fmt::Debug for LabelGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabelGuard").field("id", &self.id).finish()
    }
}

impl Drop for LabelGuard {
    fn drop(&mut self) {
        // At thread exit the frames may be gone already: nothing to restore.
        let _ = FRAMES.try_with(|cell| {
            let mut frames = cell.borrow_mut();
            // Usually the top frame; search from there.
            let Some(at) = frames.live.iter().rposition(|f| f.id == self.id) else { return };
            for i in (0..frames.live[at].pairs.len()).rev() {
                frames.restore_key(at, i);
            }
            let mut list = frames.live.remove(at).pairs;
            list.clear();
            frames.spare.push(list);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_strings_are_nul_terminated() {
        for len in [0usize, 1, 126, 127, 128, 1000] {
            let s = "x".repeat(len);
            let n = with_cstr(&s, |p| unsafe { std::ffi::CStr::from_ptr(p) }.to_bytes().len());
            assert_eq!(n, len);
        }
    }
}
