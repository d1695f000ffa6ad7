//! The demo fence agent: "powers off" a host of the demo cluster, which destroys every VM still
//! running there. It is what makes the split-brain trap of `3rc demo` safe: a failed host's VMs
//! keep running until this fencer (or a person) turns the host off.

use super::{DemoCluster, DemoError, Power};
use crate::hv::{Fencer, PowerStatus};
use std::sync::Arc;

pub struct DemoFencer {
    cluster: Arc<DemoCluster>,
    host: String,
}

impl DemoFencer {
    /// A fencer for one host of the demo cluster; the host must exist.
    pub fn new(cluster: Arc<DemoCluster>, host: &str) -> Result<Self, DemoError> {
        cluster.power(host)?;
        Ok(DemoFencer { cluster, host: host.to_string() })
    }
}

impl Fencer for DemoFencer {
    fn describe(&self) -> String {
        "demo".to_string()
    }

    /// A failed host is still powered on (that is the danger), so only `Off` reports off.
    fn status(&self) -> Result<PowerStatus, String> {
        match self.cluster.power(&self.host).map_err(|e| e.to_string())? {
            Power::Off => Ok(PowerStatus::Off),
            Power::On | Power::Failed => Ok(PowerStatus::On),
        }
    }

    fn off(&self) -> Result<(), String> {
        std::thread::sleep(self.cluster.fence_latency());
        self.cluster.power_off(&self.host).map_err(|e| format!("demo fence of {} failed: {e}", self.host))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::fixture;
    use super::*;

    #[test]
    fn status_follows_power_and_off_fences_the_host() {
        let (_d, cluster) = fixture();
        let fencer = match DemoFencer::new(Arc::clone(&cluster), "hv1") {
            Ok(f) => f,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(fencer.describe(), "demo");
        assert_eq!(fencer.status(), Ok(PowerStatus::On));
        // A failed host is unreachable but still powered: it must not read as off.
        assert_eq!(cluster.fail_host("hv1"), Ok(()));
        assert_eq!(fencer.status(), Ok(PowerStatus::On));
        assert_eq!(fencer.off(), Ok(()));
        assert_eq!(fencer.status(), Ok(PowerStatus::Off));
        assert_eq!(cluster.running_domains("hv1"), Ok(vec![]));
        // Fencing is idempotent.
        assert_eq!(fencer.off(), Ok(()));
    }

    #[test]
    fn a_fencer_for_an_unknown_host_is_refused() {
        let (_d, cluster) = fixture();
        assert!(DemoFencer::new(cluster, "hv9").is_err());
    }
}
