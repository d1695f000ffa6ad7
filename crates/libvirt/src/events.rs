//! Domain lifecycle events and the connection close callback, on one connection per host.
//!
//! libvirt calls both callbacks on its event-loop thread (`event_loop`), which also runs every
//! connection's keepalive: a callback that blocked there would stall keepalive for every host.
//! So the callbacks only translate what libvirt says into a `Hint` and `try_send` it into the
//! supervisor's channel; they never log, lock, or call libvirt beyond `virDomainGetName`
//! (a local read of the domain object libvirt hands them).
//!
//! Ownership of the callbacks' data follows libvirt's rules: each registration gets its own
//! boxed `HintSink`, handed to libvirt with a free function. After a successful registration
//! libvirt owns the box and frees it (on deregistration, after a close callback has fired, or
//! when the connection object goes away); after a failed one the box is still ours and is
//! freed here. A registration holds a reference on the connection, so `Watch` deregisters
//! before its connection is closed, or the connection (and its socket) would never be freed.

use std::ffi::CStr;
use std::os::raw::{c_int, c_void};
use threerc_hv::{DomainChange, HintSink};
use virt::connect::Connect;
use virt::sys;

/// The callbacks registered on one connection. Dropping it deregisters them.
pub(super) struct Watch {
    /// Our own reference on the connection, so deregistration never uses a closed one.
    conn: Connect,
    lifecycle: Option<c_int>,
    /// The watchdog callback (guest probes, `core::guest`).
    watchdog: Option<c_int>,
    close: bool,
}

impl Watch {
    /// Register the lifecycle callback and (where the driver can close on its own) the close
    /// callback. What cannot be registered is logged and left out: polling still sees the
    /// change, later.
    pub(super) fn register(conn: &Connect, sink: &HintSink, uri: &str) -> Watch {
        let mut watch = Watch { conn: conn.clone(), lifecycle: None, watchdog: None, close: false };
        // SAFETY: the pointer is only passed to libvirt calls below, while `conn` (and the
        // clone kept in `watch`) hold their references on the connection.
        let ptr = unsafe { conn.as_ptr() };

        // libvirt's generic callback type stands for every event's own signature; the event ID
        // says which one it really is (VIR_DOMAIN_EVENT_CALLBACK in C).
        // SAFETY: libvirt calls a VIR_DOMAIN_EVENT_ID_LIFECYCLE callback with exactly
        // `LifecycleFn`'s arguments; the generic type is only how the C API spells it.
        let cb = unsafe { std::mem::transmute::<LifecycleFn, GenericFn>(on_lifecycle) };
        let why = ("no lifecycle events", "a crashed VM is seen at the next probe");
        // SAFETY: `ptr` is live (see above) and `cb` is the lifecycle event's callback.
        watch.lifecycle = unsafe { register_any(ptr, sys::VIR_DOMAIN_EVENT_ID_LIFECYCLE, cb, sink, uri, why) };
        // SAFETY: libvirt calls a VIR_DOMAIN_EVENT_ID_WATCHDOG callback with exactly
        // `WatchdogFn`'s arguments.
        let cb = unsafe { std::mem::transmute::<WatchdogFn, GenericFn>(on_watchdog) };
        let why = ("no watchdog events", "a guest's watchdog is not seen");
        // SAFETY: as above, with the watchdog event's callback.
        watch.watchdog = unsafe { register_any(ptr, sys::VIR_DOMAIN_EVENT_ID_WATCHDOG, cb, sink, uri, why) };

        // The test driver cannot lose its connection, and its register call accepts any
        // callback without keeping it (the data would never be freed): nothing to watch there.
        if !uri.starts_with("test:") {
            let opaque = Box::into_raw(Box::new(sink.clone())) as *mut c_void;
            // SAFETY: as above; on success libvirt owns `opaque` and frees it with `free_sink`.
            let r = unsafe { sys::virConnectRegisterCloseCallback(ptr, Some(on_close), opaque, Some(free_sink)) };
            if r == 0 {
                watch.close = true;
            } else {
                // SAFETY: the registration failed, so libvirt did not take `opaque`.
                unsafe { refused(opaque, uri, "no close callback", "a lost connection is seen at the next probe") };
            }
        }
        if let Some(what) = match (watch.lifecycle.is_some(), watch.close) {
            (true, true) => Some("lifecycle events and the close callback"),
            (true, false) => Some("lifecycle events"),
            (false, true) => Some("the close callback"),
            (false, false) => None,
        } {
            // The promise tests and people can wait for: from here on, changes on this host
            // come as events on this connection (also after a reconnection).
            tracing::info!(target: "3rc::events", "{}: connected to {uri}, {what} registered", sink.host());
        }
        watch
    }

    /// Whether anything is registered.
    pub(super) fn is_active(&self) -> bool {
        self.lifecycle.is_some() || self.close
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // SAFETY: `self.conn` holds a reference on the connection until this drop ends.
        let ptr = unsafe { self.conn.as_ptr() };
        if let Some(id) = self.lifecycle.take() {
            // On a dead connection the call reports an error, but libvirt has already dropped
            // the callback (and freed its data) locally before it tried to tell the daemon.
            // SAFETY: `id` was returned by our registration on this connection, and is
            // deregistered once (`take`).
            unsafe { sys::virConnectDomainEventDeregisterAny(ptr, id) };
        }
        if let Some(id) = self.watchdog.take() {
            // SAFETY: as above.
            unsafe { sys::virConnectDomainEventDeregisterAny(ptr, id) };
        }
        if std::mem::take(&mut self.close) {
            // Fails harmlessly when the callback already fired (libvirt freed its data then).
            // SAFETY: the connection is live (see above) and `on_close` is the function we registered.
            unsafe { sys::virConnectUnregisterCloseCallback(ptr, Some(on_close)) };
        }
        // Failures here are expected on a dead connection and must not reach stderr or the
        // next call's error: clear libvirt's per-thread last error.
        // SAFETY: touches only this thread's libvirt error slot.
        unsafe { sys::virResetLastError() };
    }
}

/// Register `cb` for domain event `event` with a copy of `sink` as its data; its id, or `None`
/// (logged with `why`: what is lost, and what happens instead) if libvirt refused.
///
/// # Safety
/// `ptr` is a live connection, and `cb` is a callback of the signature libvirt uses for `event`.
unsafe fn register_any(
    ptr: sys::virConnectPtr,
    event: u32,
    cb: GenericFn,
    sink: &HintSink,
    uri: &str,
    why: (&str, &str),
) -> Option<c_int> {
    let opaque = Box::into_raw(Box::new(sink.clone())) as *mut c_void;
    // SAFETY: the caller guarantees `ptr` and `cb`; `opaque` is a leaked `HintSink` that libvirt
    // owns from here on when the call succeeds and frees with `free_sink`.
    let id = unsafe {
        sys::virConnectDomainEventRegisterAny(
            ptr,
            std::ptr::null_mut(),
            event as c_int,
            Some(cb),
            opaque,
            Some(free_sink),
        )
    };
    if id >= 0 {
        return Some(id);
    }
    // SAFETY: the registration failed, so libvirt did not take `opaque`.
    unsafe { refused(opaque, uri, why.0, why.1) };
    None
}

type GenericFn = unsafe extern "C" fn(sys::virConnectPtr, sys::virDomainPtr, *mut c_void);

type WatchdogFn = unsafe extern "C" fn(sys::virConnectPtr, sys::virDomainPtr, c_int, *mut c_void) -> c_int;

type LifecycleFn = unsafe extern "C" fn(sys::virConnectPtr, sys::virDomainPtr, c_int, c_int, *mut c_void) -> c_int;

/// A registration libvirt refused: it did not take the data, so it is freed here.
///
/// # Safety
/// `opaque` comes from `Box::into_raw` of a `HintSink` and was not handed over to libvirt.
unsafe fn refused(opaque: *mut c_void, uri: &str, what: &str, then: &str) {
    // SAFETY: the caller guarantees `opaque` is ours (see `# Safety`).
    unsafe { free_sink(opaque) };
    let why = virt::error::Error::last_error();
    tracing::warn!(target: "libvirt", "{uri}: {what} ({}); {then}", why.message());
}

/// libvirt's free function for a registration's data.
unsafe extern "C" fn free_sink(opaque: *mut c_void) {
    if !opaque.is_null() {
        // SAFETY: every `opaque` handed to libvirt with this function is a `Box<HintSink>`
        // leaked by `register`, and libvirt frees each one once.
        drop(unsafe { Box::from_raw(opaque as *mut HintSink) });
    }
}

/// A domain callback's sink and the domain's name, or `None` if libvirt gave neither.
///
/// # Safety
/// `opaque` is null or a registration's `HintSink`, and `dom` null or the live domain libvirt
/// hands the callback; the results are used only before the callback returns.
unsafe fn sink_and_name<'a>(dom: sys::virDomainPtr, opaque: *mut c_void) -> Option<(&'a HintSink, String)> {
    if opaque.is_null() || dom.is_null() {
        return None;
    }
    // SAFETY: `opaque` is the registration's `HintSink`, which libvirt keeps alive until it
    // calls `free_sink`, never while a callback runs.
    let sink = unsafe { &*(opaque as *const HintSink) };
    // SAFETY: `dom` is the live domain libvirt hands the callback; the name is a local read.
    let name = unsafe { sys::virDomainGetName(dom) };
    if name.is_null() {
        return None;
    }
    // SAFETY: a non-null name from libvirt is a NUL-terminated string owned by `dom`, read here
    // before the callback returns.
    Some((sink, unsafe { CStr::from_ptr(name) }.to_string_lossy().into_owned()))
}

/// Runs on the event-loop thread: translate and queue, nothing else.
unsafe extern "C" fn on_lifecycle(
    _conn: sys::virConnectPtr,
    dom: sys::virDomainPtr,
    event: c_int,
    detail: c_int,
    opaque: *mut c_void,
) -> c_int {
    // SAFETY: libvirt hands this callback its registration's data and the live domain.
    if let Some((sink, name)) = unsafe { sink_and_name(dom, opaque) } {
        let (change, reason) = lifecycle(event, detail);
        sink.domain(&name, change, reason);
    }
    0
}

/// Runs on the event-loop thread: translate and queue, nothing else.
unsafe extern "C" fn on_watchdog(
    _conn: sys::virConnectPtr,
    dom: sys::virDomainPtr,
    action: c_int,
    opaque: *mut c_void,
) -> c_int {
    // SAFETY: as in `on_lifecycle`.
    if let Some((sink, name)) = unsafe { sink_and_name(dom, opaque) } {
        sink.watchdog(&name, watchdog_action(action));
    }
    0
}

/// What a watchdog device did, in libvirt's words (`virDomainEventWatchdogAction`).
pub(super) fn watchdog_action(action: c_int) -> &'static str {
    ["none", "pause", "reset", "poweroff", "shutdown", "debug", "inject-nmi"]
        .get(usize::try_from(action).unwrap_or(usize::MAX))
        .copied()
        .unwrap_or("unknown")
}

/// Runs on the event-loop thread: translate and queue, nothing else.
unsafe extern "C" fn on_close(_conn: sys::virConnectPtr, reason: c_int, opaque: *mut c_void) {
    if opaque.is_null() {
        return;
    }
    // SAFETY: as in `on_lifecycle`.
    let sink = unsafe { &*(opaque as *const HintSink) };
    sink.closed(close_reason(reason));
}

/// A lifecycle event and its detail, in libvirt's words.
pub(super) fn lifecycle(event: c_int, detail: c_int) -> (DomainChange, &'static str) {
    let Ok(event) = u32::try_from(event) else { return (DomainChange::Other, "unknown") };
    let d = u32::try_from(detail).unwrap_or(u32::MAX);
    let pick = |names: &[&'static str]| names.get(d as usize).copied().unwrap_or("unknown");
    match event {
        sys::VIR_DOMAIN_EVENT_DEFINED => {
            (DomainChange::Defined, pick(&["added", "updated", "renamed", "from snapshot"]))
        }
        sys::VIR_DOMAIN_EVENT_UNDEFINED => (DomainChange::Undefined, pick(&["removed", "renamed"])),
        sys::VIR_DOMAIN_EVENT_STARTED => {
            (DomainChange::Started, pick(&["booted", "migrated", "restored", "from snapshot", "woken up", "recreated"]))
        }
        sys::VIR_DOMAIN_EVENT_SUSPENDED => (
            DomainChange::Suspended,
            pick(&[
                "paused",
                "migrated",
                "I/O error",
                "watchdog",
                "restored",
                "from snapshot",
                "API error",
                "post-copy",
                "post-copy failed",
            ]),
        ),
        sys::VIR_DOMAIN_EVENT_RESUMED => {
            (DomainChange::Resumed, pick(&["unpaused", "migrated", "from snapshot", "post-copy", "post-copy failed"]))
        }
        sys::VIR_DOMAIN_EVENT_STOPPED => (
            DomainChange::Stopped,
            pick(&["shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from snapshot", "recreated"]),
        ),
        sys::VIR_DOMAIN_EVENT_SHUTDOWN => (DomainChange::Shutdown, pick(&["finished", "by the guest", "by the host"])),
        sys::VIR_DOMAIN_EVENT_PMSUSPENDED => (DomainChange::PmSuspended, pick(&["to memory", "to disk"])),
        sys::VIR_DOMAIN_EVENT_CRASHED => (DomainChange::Crashed, pick(&["panicked", "crash loaded"])),
        _ => (DomainChange::Other, "unknown"),
    }
}

/// Why libvirt closed a connection.
pub(super) fn close_reason(reason: c_int) -> &'static str {
    match u32::try_from(reason) {
        Ok(sys::VIR_CONNECT_CLOSE_REASON_ERROR) => "error",
        Ok(sys::VIR_CONNECT_CLOSE_REASON_EOF) => "end of file",
        Ok(sys::VIR_CONNECT_CLOSE_REASON_KEEPALIVE) => "keepalive timeout",
        Ok(sys::VIR_CONNECT_CLOSE_REASON_CLIENT) => "closed by the client",
        _ => "unknown reason",
    }
}
