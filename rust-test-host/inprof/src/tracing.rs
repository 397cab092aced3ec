//! [`ProfilingLayer`]: a `tracing_subscriber` layer that gives CPU and heap
//! samples the context of the `tracing` span the thread is in.
//!
//! ```no_run
//! use tracing_subscriber::layer::SubscriberExt;
//! let subscriber = tracing_subscriber::registry().with(inprof::tracing::ProfilingLayer::new());
//! tracing::subscriber::set_global_default(subscriber).unwrap();
//! let _profiler = inprof::start();
//! let root = tracing::info_span!("request", http.route = "/users/{id}");
//! let _e = root.enter();
//! // samples here: local root span id = span id = root's id,
//! // "span name" = "request", "trace endpoint" = "/users/{id}"
//! ```
//!
//! What it sets, and why this way:
//! - Span ids: every span gets a process-unique id from a counter when it
//!   is created (tracing's own `Id`s are reused once a span closes, which
//!   would merge unrelated spans in a profile). A span's local root is the
//!   outermost span of its trace in this process: its parent's root, or
//!   itself when it has no parent.
//! - On enter: `set_span(root, span)` and a `span name` label with the
//!   span's name; for a root span, `set_endpoint(root, endpoint)` too. On
//!   exit the thread's previous context comes back. Each thread keeps its
//!   own stack of entered spans, so nested spans, spans exited out of
//!   order and one span entered on several threads all restore correctly.
//! - A root's endpoint is its `resource.name` field, else its `http.route`
//!   field, else its name (fields recorded later with `Span::record` count
//!   too). When a root span closes, its endpoint gets one hit
//!   ([`count_endpoint`](crate::count_endpoint), event.json
//!   `endpoint_counts`).

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use ::tracing::field::{Field, Visit};
use ::tracing::span::{Attributes, Id, Record};
use ::tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::context::{count_endpoint, labels, set_endpoint, set_span, LabelGuard};

/// The label holding the entered span's name.
pub const SPAN_NAME_LABEL: &str = "span name";

/// Sets the thread's span ids, a `span name` label and root endpoints from
/// `tracing` spans (see the module documentation). Add it to a
/// `tracing_subscriber::registry()` (it needs `LookupSpan`).
#[derive(Debug, Default, Clone, Copy)]
pub struct ProfilingLayer {
    _private: (),
}

impl ProfilingLayer {
    pub fn new() -> ProfilingLayer {
        ProfilingLayer { _private: () }
    }
}

/// Never 0 (0 means "no span" to the library).
static NEXT_SPAN_ID: AtomicU64 = AtomicU64::new(1);

/// Kept in each span's extensions.
struct SpanContext {
    root: u64,
    span: u64,
    name: &'static str,
    /// Some for a root span only.
    endpoint: Option<Endpoint>,
}

#[derive(Default)]
struct Endpoint {
    resource: Option<String>,
    route: Option<String>,
}

impl Endpoint {
    fn name<'a>(&'a self, span_name: &'a str) -> &'a str {
        self.resource.as_deref().or(self.route.as_deref()).unwrap_or(span_name)
    }
}

impl Visit for Endpoint {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "resource.name" => self.resource = Some(value.to_owned()),
            "http.route" => self.route = Some(value.to_owned()),
            _ => {}
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if matches!(field.name(), "resource.name" | "http.route") {
            self.record_str(field, &format!("{value:?}"));
        }
    }
}

/// One span entered on this thread.
struct Entered {
    id: Id,
    root: u64,
    span: u64,
    _label: Option<LabelGuard>,
}

thread_local! {
    static ENTERED: RefCell<Vec<Entered>> = const { RefCell::new(Vec::new()) };
}

impl<S> Layer<S> for ProfilingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let span_id = NEXT_SPAN_ID.fetch_add(1, Ordering::Relaxed);
        let parent_root = span.parent().and_then(|p| p.extensions().get::<SpanContext>().map(|c| c.root));
        let cx = match parent_root {
            Some(root) => SpanContext { root, span: span_id, name: span.name(), endpoint: None },
            None => {
                let mut ep = Endpoint::default();
                attrs.record(&mut ep);
                SpanContext { root: span_id, span: span_id, name: span.name(), endpoint: Some(ep) }
            }
        };
        span.extensions_mut().insert(cx);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        let Some(cx) = ext.get_mut::<SpanContext>() else { return };
        let (root, name) = (cx.root, cx.name);
        if let Some(ep) = cx.endpoint.as_mut() {
            values.record(ep);
            set_endpoint(root, ep.name(name));
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let ext = span.extensions();
        let Some(cx) = ext.get::<SpanContext>() else { return };
        set_span(cx.root, cx.span);
        if let Some(ep) = &cx.endpoint {
            // On every enter, not once: the library remembers a bounded
            // number of recent roots, and a long-lived root may have been
            // pushed out.
            set_endpoint(cx.root, ep.name(cx.name));
        }
        // A label that cannot be set (the thread's labels are full) leaves
        // the span ids in place: profiling never fails the host's code.
        let label = labels(&[(SPAN_NAME_LABEL, cx.name)]).ok();
        let entered = Entered { id: id.clone(), root: cx.root, span: cx.span, _label: label };
        let _ = ENTERED.try_with(|stack| stack.borrow_mut().push(entered));
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        let _ = ENTERED.try_with(|stack| {
            let removed = {
                let mut stack = stack.borrow_mut();
                let Some(at) = stack.iter().rposition(|e| e.id == *id) else { return };
                let removed = stack.remove(at);
                match stack.last() {
                    Some(top) => set_span(top.root, top.span),
                    None => set_span(0, 0),
                }
                removed
            };
            // Restores the previous `span name` (outside the borrow).
            drop(removed);
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let ext = span.extensions();
        if let Some(SpanContext { endpoint: Some(ep), name, .. }) = ext.get::<SpanContext>() {
            count_endpoint(ep.name(name), 1);
        }
    }
}
