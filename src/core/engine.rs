//! The engine: observations, outcomes and commands in; actions and events out.

use super::model::ClusterSpec;
use super::view::ClusterView;

pub struct Engine {
    spec: ClusterSpec,
}

impl Engine {
    pub fn new(spec: ClusterSpec) -> Engine {
        Engine { spec }
    }

    pub fn snapshot(&self) -> ClusterView {
        let _ = &self.spec;
        ClusterView::default()
    }
}
