use super::*;
use crate::p2v::plan::tests::{config, facts, inventory};

fn typ(w: &mut Wizard, text: &str) {
    for c in text.chars() {
        assert_eq!(w.key(if c == ' ' { Key::Space } else { Key::Char(c) }), None);
    }
}

fn keys(w: &mut Wizard, ks: &[Key]) -> Vec<Effect> {
    ks.iter().filter_map(|k| w.key(*k)).collect()
}

fn config_with_state() -> Config {
    let mut c = config();
    c.state_dir = Some("/var/lib/3rc".into());
    c
}

/// Source typed, connection tested, inventory in: the wizard at the machine step.
fn at_machine() -> Wizard {
    let mut w = Wizard::new(config_with_state());
    typ(&mut w, "ssh:root@srv1");
    match w.key(Key::Enter) {
        Some(Effect::TestConnection(Source::Ssh(s))) => {
            assert_eq!((s.user.as_deref(), s.host.as_str()), (Some("root"), "srv1"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.step, Step::Connection);
    assert!(w.waiting.is_some());
    assert_eq!(w.key(Key::Enter), None, "nothing moves while the test runs");
    w.connected(Ok(("connected to srv1 as root".into(), inventory())));
    assert_eq!(w.hello.as_deref(), Some("connected to srv1 as root"));
    w.key(Key::Enter);
    assert_eq!(w.step, Step::Machine);
    w
}

#[test]
fn the_happy_path_from_source_to_done_with_defaults_from_the_source() {
    let mut w = at_machine();
    assert_eq!((w.text(Field::Name), w.text(Field::Vcpus), w.text(Field::Memory)), ("srv1.example.com", "4", "8192M"));
    assert_eq!(w.checks(Field::Disks).iter().map(|(_, on)| *on).collect::<Vec<_>>(), [true, true, false]);
    // Rename, less memory, and leave sdb out.
    for _ in 0..w.text(Field::Name).len() {
        w.key(Key::Backspace);
    }
    typ(&mut w, "srv1v");
    keys(&mut w, &[Key::Tab, Key::Tab]);
    for _ in 0..5 {
        w.key(Key::Backspace);
    }
    typ(&mut w, "2G");
    keys(&mut w, &[Key::Tab, Key::Down, Key::Space]);
    assert_eq!(w.answers.disks, ["sda"]);
    let effects = keys(&mut w, &[Key::Enter]);
    assert_eq!(effects, [Effect::ReadTarget("hv1".into())]);
    assert_eq!(w.step, Step::Target);
    w.target_read(Ok(facts()));
    assert_eq!(w.answers.pool, "default", "the first pool");
    assert_eq!(w.answers.network, "default", "the first network, for the NICs");
    // Pool: next choice is vg0 (raw only); network: lan.
    keys(&mut w, &[Key::Tab, Key::Down, Key::Tab]);
    assert_eq!(w.answers.pool, "vg0");
    for _ in 0.."default".len() {
        w.key(Key::Backspace);
    }
    typ(&mut w, "lan");
    keys(&mut w, &[Key::Tab, Key::Tab, Key::Tab, Key::Tab, Key::Tab, Key::Tab, Key::Tab]);
    assert_eq!(w.field(), Some((Field::Policy, Kind::Text)));
    typ(&mut w, "priority=3 max_restart=1");
    assert_eq!(keys(&mut w, &[Key::Enter]), []);
    assert_eq!(w.step, Step::Review, "{:?}", w.error);
    let plan = w.plan.clone().unwrap();
    assert_eq!((plan.name.as_str(), plan.memory_kib, plan.disks.len()), ("srv1v", 2 * 1024 * 1024, 1));
    assert_eq!(plan.disks[0].volume, "srv1v-sda.img");
    assert_eq!(plan.protect.as_ref().map(|s| (s.priority, s.policy.max_restart)), Some((3, 1)));
    // Back to the target step and forward again keeps every answer.
    keys(&mut w, &[Key::Esc]);
    assert_eq!(w.step, Step::Target);
    keys(&mut w, &[Key::Enter]);
    assert_eq!(w.plan.as_ref(), Some(&plan));
    match w.key(Key::Enter) {
        Some(Effect::Run(p)) => assert_eq!(*p, plan),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.step, Step::Run);
    assert_eq!(w.key(Key::Enter), None);
    w.note("copying /dev/sda".into());
    w.finished(Ok(vec!["srv1v defined on hv1 and started".into()]));
    assert_eq!(w.step, Step::Done);
    assert_eq!(w.key(Key::Enter), Some(Effect::Close));
}

#[test]
fn a_bad_answer_is_refused_with_its_field_named_and_focused() {
    let mut w = Wizard::new(config_with_state());
    typ(&mut w, "ftp:srv1");
    assert_eq!(w.key(Key::Enter), None);
    assert_eq!(w.step, Step::Source);
    assert!(w.error.as_deref().unwrap().starts_with("source \"ftp:srv1\": expected disk:/path or ssh:"));

    let mut w = at_machine();
    keys(&mut w, &[Key::Tab, Key::Tab]);
    typ(&mut w, "X");
    keys(&mut w, &[Key::Tab]);
    assert_eq!(w.key(Key::Enter), None);
    assert_eq!(w.step, Step::Machine);
    assert_eq!(w.field(), Some((Field::Memory, Kind::Text)), "focus goes to the bad field");
    assert_eq!(w.error.as_deref(), Some("memory \"8192MX\": unknown unit \"mx\" (use K, M, G or T)"));
    w.key(Key::Backspace);
    // A name taken on the target is only known there: the wizard goes back to the name.
    keys(&mut w, &[Key::BackTab, Key::BackTab]);
    for _ in 0..w.text(Field::Name).len() {
        w.key(Key::Backspace);
    }
    typ(&mut w, "web1");
    assert_eq!(keys(&mut w, &[Key::Enter]), [Effect::ReadTarget("hv1".into())]);
    w.target_read(Ok(facts()));
    w.key(Key::Enter);
    assert_eq!((w.step, w.field()), (Step::Machine, Some((Field::Name, Kind::Text))));
    assert_eq!(w.error.as_deref(), Some("name \"web1\": hv1 already has a domain of that name"));
    // Warm without a stop command: refused at the stop command.
    for _ in 0.."web1".len() {
        w.key(Key::Backspace);
    }
    typ(&mut w, "srv1v");
    assert_eq!(keys(&mut w, &[Key::Enter]), [], "hv1 was read already");
    keys(&mut w, &[Key::Tab, Key::Tab, Key::Tab, Key::Tab, Key::Tab, Key::Tab, Key::Space, Key::Enter]);
    assert_eq!(w.field(), Some((Field::StopCommand, Kind::Text)));
    assert!(w.error.as_deref().unwrap().starts_with("stop_command: warm mode needs"));
}

#[test]
fn a_failed_connection_test_returns_to_the_source_and_leaving_early_makes_nothing() {
    let mut w = Wizard::new(config());
    assert!(!w.answers.protect, "no state_dir: no supervisor to protect with");
    typ(&mut w, "ssh:root@10.0.0.99");
    assert!(matches!(w.key(Key::Enter), Some(Effect::TestConnection(_))));
    w.connected(Err("cannot reach root@10.0.0.99 over ssh: No route to host".into()));
    assert_eq!(w.step, Step::Source);
    assert_eq!(
        w.error.as_deref(),
        Some("source: test connection failed: cannot reach root@10.0.0.99 over ssh: No route to host")
    );
    // Esc while a test runs: back to the source; the late answer is ignored.
    assert!(matches!(w.key(Key::Enter), Some(Effect::TestConnection(_))));
    assert_eq!(w.key(Key::Esc), None);
    assert_eq!(w.step, Step::Source);
    w.connected(Ok(("late".into(), inventory())));
    assert!(w.inventory.is_none());
    // Esc at the first step, or Cancel anywhere before the run: closed, no effect but Close.
    assert_eq!(w.key(Key::Esc), Some(Effect::Close));
    let mut w = at_machine();
    assert_eq!(w.key(Key::Cancel), Some(Effect::Close));
}

#[test]
fn cancel_during_the_run_asks_the_driver_once_and_the_outcome_is_shown() {
    let mut w = at_machine();
    w.key(Key::Enter);
    w.target_read(Ok(facts()));
    w.key(Key::Enter);
    assert_eq!(w.step, Step::Review, "{:?}", w.error);
    assert!(matches!(w.key(Key::Enter), Some(Effect::Run(_))));
    assert_eq!(w.key(Key::Cancel), Some(Effect::CancelRun));
    assert_eq!(w.key(Key::Esc), None, "asked once");
    w.finished(Err("cancelled (nothing was left behind)".into()));
    assert_eq!(w.step, Step::Done);
    assert_eq!(w.outcome, Some(Err("cancelled (nothing was left behind)".into())));
    assert_eq!(w.key(Key::Esc), Some(Effect::Close));
}

#[test]
fn changing_the_host_reads_it_and_choices_cycle() {
    let mut w = at_machine();
    w.key(Key::Enter);
    w.target_read(Ok(facts()));
    assert_eq!(w.key(Key::Down), Some(Effect::ReadTarget("hv2".into())));
    assert_eq!(w.answers.pool, "", "the pool is chosen again on the new host");
    w.target_read(Ok(TargetFacts { host: "hv2".into(), ..facts() }));
    assert_eq!(w.answers.pool, "default");
    keys(&mut w, &[Key::Tab, Key::Tab, Key::Tab]);
    assert_eq!(w.choices(Field::Format), (vec!["auto".into(), "qcow2".into(), "raw".into()], 0));
    keys(&mut w, &[Key::Up]);
    assert_eq!(w.answers.format, "raw");
    keys(&mut w, &[Key::Tab, Key::Down, Key::Down]);
    assert_eq!(w.answers.domain_type, "qemu");
}
