//! Webhooks: each notification POSTed as JSON (`Notification`) to the target's URL with its
//! headers, on a blocking thread, within the target's timeout. Any 2xx answer is a delivery.
//! Errors name neither the URL's secrets nor the headers.

use super::Notification;
use std::collections::BTreeMap;
use std::time::Duration;

pub(super) async fn post(
    url: &str,
    headers: &BTreeMap<String, String>,
    n: &Notification,
    timeout: Duration,
) -> Result<(), String> {
    let body = serde_json::to_string(n).unwrap_or_default();
    let (url, headers) = (url.to_string(), headers.clone());
    tokio::task::spawn_blocking(move || {
        let agent = ureq::AgentBuilder::new().timeout(timeout).build();
        let mut req = agent.post(&url).set("Content-Type", "application/json");
        for (k, v) in &headers {
            req = req.set(k, v);
        }
        super::answer(req.send_string(&body))
    })
    .await
    .map_err(|e| format!("the delivery failed: {e}"))?
}
