//! `count`'s arithmetic and rules on figures, and what each generator child runs.

use super::*;

fn scenario(subscribers: u32, clients: &str, ws: &str) -> Scenario {
    let text = format!(
        "name = \"p\"\nduration = \"2s\"\n[clients]\nsubscribers = {subscribers}\n{clients}\n[publish]\n\
         publishers = 10\nrate = 1\n[transports.ws]\n{ws}\n"
    );
    crate::scenario::parse(Path::new("p.toml"), &text).unwrap()
}

/// What a process may hold under a 20,000 open-file limit, less the spare files.
const PER: u64 = 20_000 - super::super::SPARE_FILES;

#[test]
fn one_process_while_the_connections_fit() {
    let s = scenario(19_000, "", "");
    assert_eq!(count(&s, 19_010, PER, false).unwrap(), 1);
    let forced = scenario(30, "processes = 3", "");
    assert_eq!(count(&forced, 40, PER, false).unwrap(), 3);
    // A shard is one of several already.
    assert_eq!(count(&forced, 40, PER, true).unwrap(), 1);
}

#[test]
fn past_the_limit_the_server_needs_instances_and_says_how_many() {
    let s = scenario(100_000, "", "");
    let e = count(&s, 100_010, PER, false).unwrap_err();
    assert!(
        matches!(
            e,
            ProcessesError::ServerTooSmall {
                processes: 6,
                instances: 6,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("instances = 6"), "{e}");
    // 100,010 connections over 19,872 a process: 6 instances, each loaded by one generator.
    assert_eq!(instances_for(100_010, PER), 6);
    assert_eq!(instances_for(19_000, PER), 1);
    let fleet = scenario(100_000, "", "instances = 6");
    assert_eq!(count(&fleet, 100_010, PER, false).unwrap(), 6);
    // Too few instances for their share.
    let few = scenario(100_000, "", "instances = 3");
    assert!(count(&few, 100_010, PER, false).is_err());
    let haproxy = scenario(100_000, "", "instances = 6\nbalancer = \"haproxy\"");
    let e = count(&haproxy, 100_010, PER, false).unwrap_err();
    assert!(e.to_string().contains("HAProxy is one process too"), "{e}");
}

#[test]
fn each_child_runs_its_transport_against_its_target_in_one_process() {
    // The instances are the parent's: the child loads one of them as its target.
    let s = scenario(30, "processes = 3", "instances = 2");
    let text = child_scenario(&s, TransportKind::Ws, "ws://127.0.0.1:9/ws", Some(7)).unwrap();
    let back = crate::scenario::parse(Path::new("c.toml"), &text).unwrap();
    assert_eq!(
        back.clients.processes,
        crate::scenario::processes::Processes::Count(1)
    );
    assert_eq!(back.targets.server_pid, Some(7));
    assert_eq!(back.plans().len(), 1);
    assert_eq!(back.clients.subscribers, 30);
}
