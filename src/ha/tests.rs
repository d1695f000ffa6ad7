//! The campaign over the in-memory store (etcd's semantics, paused time): deterministic, and
//! checked every 10 ms of virtual time for two leaders at once.

use super::mem::MemStore;
use super::*;

const TTL: Duration = Duration::from_secs(2);

fn electors(names: &[&str]) -> (MemStore, Vec<Arc<Elector<MemStore>>>) {
    let store = MemStore::new("-", Duration::from_millis(4));
    let all = names.iter().map(|n| Elector::spawn(n, "/3rc/t", TTL, store.client(n))).collect();
    (store, all)
}

/// Step virtual time by 10 ms until `until` holds (at most `max`), asserting at every step that
/// at most one leads. Returns how long it took.
async fn watch(all: &[Arc<Elector<MemStore>>], max: Duration, until: impl Fn() -> bool) -> Duration {
    let t = Instant::now();
    loop {
        let leaders: Vec<&str> = all.iter().filter(|e| e.leads()).map(|e| e.name()).collect();
        assert!(leaders.len() <= 1, "two leaders at once: {leaders:?}");
        if until() {
            return t.elapsed();
        }
        assert!(t.elapsed() < max, "not within {max:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn leader(all: &[Arc<Elector<MemStore>>]) -> Option<usize> {
    all.iter().position(|e| e.leads())
}

#[tokio::test(start_paused = true)]
async fn one_leads_and_a_standby_takes_over_only_once_the_lease_is_gone() {
    let (store, all) = electors(&["sup1", "sup2", "sup3"]);
    watch(&all, TTL, || leader(&all).is_some()).await;
    let first = leader(&all).unwrap();
    assert_eq!(store.peek("/3rc/t/leader").as_deref(), Some(all[first].name()));
    all[first].abandon();
    let took = watch(&all, 3 * TTL, || leader(&all).is_some()).await;
    assert!(took >= TTL - margin(TTL), "a standby led {took:?} after the leader died: before its lease could expire");
    assert!(took < TTL + TTL / 2, "took over in {took:?}");
    assert_ne!(leader(&all), Some(first));
}

#[tokio::test(start_paused = true)]
async fn a_leader_cut_from_the_store_stops_before_another_can_lead() {
    let (store, all) = electors(&["sup1", "sup2"]);
    watch(&all, TTL, || leader(&all).is_some()).await;
    let first = leader(&all).unwrap();
    store.cut(all[first].name(), true);
    let stopped = watch(&all, 2 * TTL, || !all[first].leads()).await;
    assert!(stopped <= TTL, "it stopped leading only {stopped:?} after it was cut");
    watch(&all, 2 * TTL, || leader(&all).is_some_and(|i| i != first)).await;
    // Back: it stays a standby, and says who leads.
    store.cut(all[first].name(), false);
    watch(&all, 2 * TTL, || all[first].leader().as_deref() == Some(all[1 - first].name())).await;
    tokio::time::sleep(2 * TTL).await;
    assert_eq!(leader(&all), Some(1 - first), "the new leader keeps the lead");
}

#[tokio::test(start_paused = true)]
async fn when_the_store_loses_its_quorum_nobody_leads() {
    let (store, all) = electors(&["sup1", "sup2"]);
    watch(&all, TTL, || leader(&all).is_some()).await;
    store.set_down(true);
    let stopped = watch(&all, 2 * TTL, || leader(&all).is_none()).await;
    assert!(stopped <= TTL, "led {stopped:?} past the store's loss");
    tokio::time::sleep(3 * TTL).await;
    assert_eq!(leader(&all), None);
    store.set_down(false);
    watch(&all, 4 * TTL, || leader(&all).is_some()).await;
}

#[tokio::test(start_paused = true)]
async fn a_short_store_election_costs_the_leader_only_the_silence() {
    let (store, all) = electors(&["sup1", "sup2", "sup3"]);
    watch(&all, TTL, || leader(&all).is_some()).await;
    let first = leader(&all).unwrap();
    // etcd elects a new raft leader: silent past the leader's own count (TTL - margin after its
    // last renewal), then every lease gets its whole TTL again.
    store.set_down(true);
    let stopped = watch(&all, 2 * TTL, || leader(&all).is_none()).await;
    assert!(stopped <= TTL, "led {stopped:?} into the silence");
    tokio::time::sleep(TTL / 4).await;
    assert_eq!(leader(&all), None);
    store.set_down(false);
    let again = watch(&all, 2 * TTL, || leader(&all).is_some()).await;
    assert_eq!(leader(&all), Some(first), "the same instance, on the key it kept");
    assert!(again <= TTL / 4 + TTL / 4 + Duration::from_millis(50), "led again {again:?} after etcd answered");
}

#[tokio::test(start_paused = true)]
async fn after_a_long_store_silence_the_key_kept_leads_only_once_the_gone_views_expired() {
    let (store, all) = electors(&["sup1", "sup2", "sup3"]);
    for e in &all {
        e.publish(format!("view of {}", e.name()));
    }
    watch(&all, TTL, || leader(&all).is_some() && all.iter().all(|e| e.peers().len() == 2)).await;
    let first = leader(&all).unwrap();
    let standby = (first + 1) % 3;
    store.set_down(true);
    tokio::time::sleep(4 * TTL).await;
    // One standby dies while etcd has no quorum: its view stays (its lease is renewed with
    // every other when etcd is back) until its lease runs out.
    all[standby].abandon();
    store.set_down(false);
    let again = watch(&all, 3 * TTL, || leader(&all).is_some()).await;
    assert_eq!(leader(&all), Some(first), "the same instance, on the key it kept");
    assert!(again >= TTL, "led {again:?} after etcd answered: before the gone instance's view expired");
    assert!(again <= TTL + TTL / 2, "led only {again:?} after etcd answered");
    assert!(!all[first].peers().is_empty(), "the live standby's view is there");
    assert_eq!(all[first].peers().len(), 1, "and only that one: {:?}", all[first].peers());
}

#[tokio::test(start_paused = true)]
async fn a_leader_not_fit_to_lead_stops_at_once_and_another_leads() {
    let (_store, all) = electors(&["sup1", "sup2"]);
    watch(&all, TTL, || leader(&all).is_some()).await;
    let first = leader(&all).unwrap();
    all[first].stand(false);
    assert!(!all[first].leads(), "it stops at once");
    let took = watch(&all, 2 * TTL, || leader(&all) == Some(1 - first)).await;
    assert!(took < TTL, "the key was given up: {took:?}, not the lease's expiry");
    tokio::time::sleep(2 * TTL).await;
    assert_eq!(leader(&all), Some(1 - first), "it does not campaign while not fit");
}

#[tokio::test(start_paused = true)]
async fn each_sees_the_live_others_views() {
    let (_store, all) = electors(&["sup1", "sup2", "sup3"]);
    for e in &all {
        e.publish(format!("view of {}", e.name()));
    }
    watch(&all, TTL, || all[0].peers().len() == 2).await;
    assert_eq!(all[0].peers(), vec!["view of sup2".to_string(), "view of sup3".to_string()]);
    all[2].publish("new view of sup3".into());
    watch(&all, TTL, || all[0].peers().contains(&"new view of sup3".to_string())).await;
    all[1].abandon();
    let gone = watch(&all, 3 * TTL, || all[0].peers().len() == 1).await;
    assert!(gone >= TTL - margin(TTL), "a dead one's view goes with its lease, not before ({gone:?})");
}

#[tokio::test(start_paused = true)]
async fn a_forwarded_request_is_answered_by_the_leader_once_and_never_twice() {
    let (_store, all) = electors(&["sup1", "sup2", "sup3"]);
    watch(&all, TTL, || leader(&all).is_some()).await;
    let l = leader(&all).unwrap();
    let a = (l + 1) % 3;
    // Answered: the leader takes it once and its answer comes back.
    let asked = all[a].forward("stop web1".into(), Duration::from_secs(10));
    let leader_side = all[l].clone();
    let serve = tokio::spawn(async move {
        loop {
            let got = leader_side.take_requests();
            if let [(id, req)] = &got[..] {
                assert_eq!(req, "stop web1");
                leader_side.answer(id.clone(), "done".into()).await.unwrap();
                return;
            }
            assert!(got.is_empty(), "{got:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    assert_eq!(asked.await, Ok("done".to_string()));
    serve.await.unwrap();
    tokio::time::sleep(TTL).await;
    assert!(all[l].take_requests().is_empty(), "handed out once");
    // The leader takes one and dies before answering: no answer, and the next leader never
    // gets it (at most once).
    let asked = tokio::spawn(all[a].forward("stop db1".into(), Duration::from_secs(5)));
    let t = Instant::now();
    let taken = loop {
        let got = all[l].take_requests();
        if !got.is_empty() {
            break got;
        }
        assert!(t.elapsed() < TTL, "not taken");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(taken.len(), 1);
    all[l].abandon();
    let answer = asked.await.unwrap();
    assert!(answer.as_ref().is_err_and(|e| e.contains("no answer within 5 s")), "{answer:?}");
    watch(&all, 3 * TTL, || leader(&all).is_some()).await;
    let next = leader(&all).unwrap();
    tokio::time::sleep(TTL).await;
    assert!(all[next].take_requests().is_empty(), "carried out twice");
    // Nobody takes it in time: it is withdrawn, and a later leader does not find it.
    all[next].stand(false);
    let asked = all[a].forward("stop app1".into(), Duration::from_millis(300)).await;
    assert!(asked.is_err());
    all[next].stand(true);
    tokio::time::sleep(3 * TTL).await;
    for e in &all {
        assert!(e.take_requests().is_empty(), "{} got a withdrawn request", e.name());
    }
}
