//! A safe wrapper over `virConnectGetAllDomainStats`: one call for every domain of a host.
//!
//! `virt` 0.5 exposes the call but not its records (`DomainStatsRecord` only holds a raw pointer,
//! and the records themselves are never freed), so this file calls libvirt directly. It is the
//! only `unsafe` code in 3RC: it owns the record list through a guard that frees it with
//! `virDomainStatsRecordListFree`, takes its own reference on each domain, and copies the few
//! typed parameters it needs into Rust values before the list is freed.

use std::ffi::CStr;
use std::os::raw::c_int;
use std::ptr;
use virt::connect::Connect;
use virt::domain::Domain;
use virt::error::Error;
use virt::sys;

/// What the bulk call said about one domain. Fields are `None` when the driver did not report
/// that statistic (the test driver only implements the `state` group).
pub(super) struct StatsRecord {
    pub domain: Domain,
    pub name: String,
    pub state: Option<i32>,
    pub reason: Option<i32>,
    pub vcpus: Option<u32>,
    /// `balloon.maximum`: the domain's maximum memory, KiB.
    pub max_memory_kib: Option<u64>,
}

/// Owns the list libvirt allocated; frees it (and the references it holds) on drop.
struct RecordList(*mut sys::virDomainStatsRecordPtr);

impl Drop for RecordList {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer came from virConnectGetAllDomainStats and is freed only here.
            unsafe { sys::virDomainStatsRecordListFree(self.0) };
        }
    }
}

/// `VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT` (libvirt >= 4.5; not in virt-sys 0.3): report only
/// what is available at once instead of waiting for each domain's job. Without it, the call
/// waits behind every domain being started or migrated on that host — measured in the lab: a
/// healthy host busy starting recovered VMs answered its probe too late and was taken for dead.
const STATS_NOWAIT: u32 = 1 << 29;

/// State, vCPU and balloon statistics of every domain, active and inactive, in one call.
/// `nowait`: do not wait for busy domains (their missing groups are read per domain).
pub(super) fn all_domain_stats(conn: &Connect, nowait: bool) -> Result<Vec<StatsRecord>, Error> {
    let stats = sys::VIR_DOMAIN_STATS_STATE | sys::VIR_DOMAIN_STATS_VCPU | sys::VIR_DOMAIN_STATS_BALLOON;
    // No ENFORCE_STATS: a driver that lacks some groups still answers with what it has.
    let mut flags = sys::VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE | sys::VIR_CONNECT_GET_ALL_DOMAINS_STATS_INACTIVE;
    if nowait {
        flags |= STATS_NOWAIT;
    }
    let mut raw: *mut sys::virDomainStatsRecordPtr = ptr::null_mut();
    // SAFETY: `conn` is a live connection for the duration of the call; libvirt stores a newly
    // allocated, NULL-terminated array in `raw`, which `RecordList` frees.
    let count = unsafe { sys::virConnectGetAllDomainStats(conn.as_ptr(), stats, &mut raw, flags) };
    let list = RecordList(raw);
    if count < 0 {
        return Err(Error::last_error());
    }
    if list.0.is_null() {
        return Ok(Vec::new());
    }
    let count = usize::try_from(count).unwrap_or(0);
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        // SAFETY: the array holds `count` valid record pointers (then a NULL terminator).
        let rec = unsafe { *list.0.add(i) };
        if rec.is_null() {
            break;
        }
        // SAFETY: `rec` points to a record that lives until `list` is dropped.
        let (dom, params, nparams) = unsafe { ((*rec).dom, (*rec).params, (*rec).nparams) };
        if dom.is_null() {
            continue;
        }
        // SAFETY: `dom` is valid while the list lives; the extra reference taken here is owned
        // by the `Domain` wrapper, which releases it when dropped, so it outlives the list.
        if unsafe { sys::virDomainRef(dom) } < 0 {
            return Err(Error::last_error());
        }
        // SAFETY: we own exactly the one reference taken just above.
        let domain = unsafe { Domain::from_ptr(dom) };
        let name = domain.name()?;
        let p = Params { params, nparams };
        out.push(StatsRecord {
            domain,
            name,
            state: p.int(c"state.state"),
            reason: p.int(c"state.reason"),
            vcpus: p.uint(c"vcpu.current"),
            max_memory_kib: p.ulong(c"balloon.maximum"),
        });
    }
    Ok(out)
}

/// One record's typed parameters, read by name with libvirt's own accessors (which check the
/// type and answer "not found" instead of reading out of bounds).
struct Params {
    params: sys::virTypedParameterPtr,
    nparams: c_int,
}

impl Params {
    fn int(&self, name: &CStr) -> Option<i32> {
        let mut v: c_int = 0;
        // SAFETY: params/nparams describe the record's array, alive while the list lives.
        let found = unsafe { sys::virTypedParamsGetInt(self.params, self.nparams, name.as_ptr(), &mut v) };
        (found == 1).then_some(v)
    }

    fn uint(&self, name: &CStr) -> Option<u32> {
        let mut v = 0;
        // SAFETY: as in `int`.
        let found = unsafe { sys::virTypedParamsGetUInt(self.params, self.nparams, name.as_ptr(), &mut v) };
        (found == 1).then_some(v)
    }

    fn ulong(&self, name: &CStr) -> Option<u64> {
        let mut v = 0;
        // SAFETY: as in `int`.
        let found = unsafe { sys::virTypedParamsGetULLong(self.params, self.nparams, name.as_ptr(), &mut v) };
        (found == 1).then_some(v)
    }
}
