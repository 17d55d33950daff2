//! The Kubernetes recipe (`scripts/k8s/`) kept in step with the binary, offline and without a
//! cluster: the commands its manifests run parse as wsbench's flags, its scenario loads (with
//! `--allow-remote`, parsing only), and the shard count agrees everywhere. The manifests' schema
//! is checked by `scripts/k8s/validate.sh` (kubernetes-validate, which needs a pip install).

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::path::Path;

use clap::Parser;
use wsbench::cli::{Cli, Command};

fn manifest(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts/k8s")
        .join(name);
    std::fs::read_to_string(&path).unwrap()
}

/// The shell command starting at `exec wsbench`, its continuation lines joined, with the
/// variables a pod would have expanded and the quotes a shell would have removed.
fn exec_line(yaml: &str, vars: &[(&str, &str)]) -> Vec<String> {
    let mut lines = yaml
        .lines()
        .skip_while(|l| !l.trim().starts_with("exec wsbench"));
    let mut command = String::new();
    for line in lines.by_ref() {
        let line = line.trim();
        command.push_str(line.trim_end_matches('\\'));
        command.push(' ');
        if !line.ends_with('\\') {
            break;
        }
    }
    for (name, value) in vars {
        command = command
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("${name}"), value);
    }
    command
        .replace('"', "")
        .split_whitespace()
        .skip(1) // exec
        .map(str::to_owned)
        .collect()
}

/// The value of `key: N` (indented by two spaces, in a Job's spec) and of the `SHARDS` env var.
fn number(yaml: &str, key: &str) -> u32 {
    let prefix = format!("  {key}: ");
    yaml.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn shards_env(yaml: &str) -> u32 {
    let mut lines = yaml.lines();
    lines.find(|l| l.trim() == "- name: SHARDS").unwrap();
    let value = lines.next().unwrap().trim();
    value
        .strip_prefix("value: ")
        .unwrap()
        .trim_matches('"')
        .parse()
        .unwrap()
}

#[test]
fn the_shard_job_runs_a_valid_sharded_command() {
    let job = manifest("shards-job.yaml");
    assert!(job.contains("completionMode: Indexed"));
    let n = number(&job, "completions");
    assert_eq!(number(&job, "parallelism"), n);
    assert_eq!(shards_env(&job), n);
    assert_eq!(shards_env(&manifest("merge-job.yaml")), n);

    let argv = exec_line(
        &job,
        &[
            ("JOB_COMPLETION_INDEX", "2"),
            ("SHARDS", &n.to_string()),
            ("RUN", "20261201T100000Z"),
        ],
    );
    let Command::Run(args) = Cli::try_parse_from(&argv).unwrap().command else {
        panic!("{argv:?} is not a run");
    };
    assert!(args.allow_remote);
    let shard = args.shard.unwrap();
    assert_eq!((shard.index, shard.count), (2, n));
    assert!(args.start_at.is_some());
    assert_eq!(
        args.out.unwrap(),
        Path::new("/results/20261201T100000Z/shard-2")
    );

    let merge = exec_line(
        &manifest("merge-job.yaml"),
        &[("shards", "shard-0 shard-1 shard-2")],
    );
    let Command::Merge { out, dirs } = Cli::try_parse_from(&merge).unwrap().command else {
        panic!("{merge:?} is not a merge");
    };
    assert_eq!((out.to_str().unwrap(), dirs.len()), ("merged", 3));
}

#[test]
fn the_server_and_the_scenario_fit_the_job() {
    let server = manifest("server.yaml");
    let args_line = server
        .lines()
        .find_map(|l| l.trim().strip_prefix("args: "))
        .unwrap();
    let argv: Vec<String> = std::iter::once("wsbench".to_owned())
        .chain(serde_json::from_str::<Vec<String>>(args_line).unwrap())
        .collect();
    let Command::Serve(serve) = Cli::try_parse_from(&argv).unwrap().command else {
        panic!("{argv:?} is not serve");
    };

    // The ConfigMap's scenario, as a pod's sed makes it (an address from the documentation
    // range: parsed, never connected to).
    let config = manifest("scenario.yaml");
    let toml: String = config
        .lines()
        .skip_while(|l| !l.contains("scenario.toml: |"))
        .skip(1)
        .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
        .collect::<String>()
        .replace("@SERVER@", "192.0.2.10:8080");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scenario.toml");
    std::fs::write(&path, &toml).unwrap();
    let scenario = wsbench::scenario::load_with(&path, &remote()).unwrap();
    assert!(
        wsbench::scenario::load(&path).is_err(),
        "needs --allow-remote"
    );
    // One transport, the one the server serves, on the Service's port.
    assert_eq!(scenario.transports.len(), 1);
    let kind = scenario.transports[0].kind();
    assert_eq!(wsbench::server::Serving::One(kind), serve.transport);
    let endpoint = scenario.targets.endpoint(kind).unwrap();
    assert!(endpoint.remote_allowed);
    assert_eq!(endpoint.addr.port(), serve.addr.port());
    let job = manifest("shards-job.yaml");
    let n = number(&job, "completions");
    assert!(scenario.clients.subscribers >= n);
}

/// The overrides `--allow-remote` gives.
fn remote() -> wsbench::scenario::Overrides {
    wsbench::scenario::Overrides {
        allow_remote: true,
        ..Default::default()
    }
}
