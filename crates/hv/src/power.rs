//! The seams outside the hypervisor: fence agents (hard and soft) and quorum witnesses.

use std::fmt;

/// Power state as a fence agent reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerStatus {
    On,
    Off,
}

impl fmt::Display for PowerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PowerStatus::On => "on",
            PowerStatus::Off => "off",
        })
    }
}

/// Powers one host off so that none of its VMs can still be running. Blocking.
pub trait Fencer: Send + Sync {
    /// Short description for logs and the console, without secrets ("demo", "fence_ipmilan").
    fn describe(&self) -> String;
    fn status(&self) -> Result<PowerStatus, String>;
    fn off(&self) -> Result<(), String>;
}

/// Restarts one host's management daemon, the host and its VMs running on (its soft fence,
/// tried when the host is alive and its libvirt refuses or fails). Blocking.
pub trait SoftFencer: Send + Sync {
    /// Short description for logs, without secrets ("soft fence ssh").
    fn describe(&self) -> String;
    fn restart(&self) -> Result<(), String>;
}

/// A quorum witness (`core::quorum`): something 3RC must reach, besides the hosts, before it
/// fences automatically (its default gateway, a quorum host). Blocking.
pub trait Witness: Send + Sync {
    /// Its name in the votes ("gateway", "tcp:quorum1:22").
    fn name(&self) -> &str;
    /// `Ok` when it answered within `timeout`; else why not.
    fn check(&self, timeout: std::time::Duration) -> Result<(), String>;
}

/// An answer from the leadership's store: `Err` says why not.
pub type StoreFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'static>>;

/// A request forwarded to the leader, resolving to its answer.
pub type ForwardFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>> + Send + 'static>>;

/// Leadership among several supervisors of one cluster (`[ha]`): only the leader decides and
/// acts. Kept by a lease in a store the supervisors share (etcd).
pub trait Leadership: Send + Sync {
    /// This instance's name.
    fn name(&self) -> &str;
    /// Whether this instance leads now, by its own clock: it holds the leader key and renewed
    /// its lease recently enough that no other instance can have it yet.
    fn leads(&self) -> bool;
    /// Who leads, as last seen (`None`: nobody, or the store cannot be reached).
    fn leader(&self) -> Option<String>;
    /// Ask the store that this instance still holds the leader key, just before an action
    /// runs: `Err` (why) if not, or if the store does not answer.
    fn confirm(&self) -> StoreFuture;
    /// What the store keeps for the leader (`PREFIX/state/`: the operators' decisions, the
    /// ladder's windows; key -> value), read when this instance took the lead and before it
    /// counted as leading; taken once per tenure. `Some(None)`: the store held none yet (the
    /// first leader seeds it from its own journal).
    fn take_shared(&self) -> Option<Option<Vec<(String, String)>>>;
    /// Keep (`Some`) or drop (`None`) one entry in the store, only while this instance holds
    /// the leader key; resolves once the store has it.
    fn share(&self, key: String, value: Option<String>) -> StoreFuture;
    /// This instance's view of the hosts (`core::vantage::Vantage`, as JSON), written to the
    /// store under its lease (so it goes when the instance does) at the next round.
    fn publish(&self, view: String);
    /// The other live instances' views, as last read.
    fn peers(&self) -> Vec<String>;
    /// Whether this instance is fit to lead (`core::vantage::fit_to_lead`). Not fit: it stops
    /// leading at once, gives the key up, and does not campaign until it is fit again.
    fn stand(&self, fit: bool);
    /// Hand `request` to the leader through the store and wait (at most `wait`) for its
    /// answer. `Err` says why there is none; then the request was withdrawn if the leader had
    /// not taken it yet, and may or may not have been carried out if it had.
    fn forward(&self, request: String, wait: std::time::Duration) -> ForwardFuture;
    /// The requests forwarded to this instance as leader, each handed out once: `(id, request)`,
    /// already taken out of the store (at most once: a leader that dies before answering leaves
    /// the request unanswered, never carried out twice).
    fn take_requests(&self) -> Vec<(String, String)>;
    /// The answer to forwarded request `id`, for the instance that waits for it.
    fn answer(&self, id: String, answer: String) -> StoreFuture;
}
