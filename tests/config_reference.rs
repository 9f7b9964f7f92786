//! `sluice --print-default-config`: a complete configuration whose every
//! value is the built-in default, naming every key docs/config.md documents.

use std::process::Command;

use sluice::config::{self, parse, reference_config};

#[test]
fn reference_is_valid_and_every_value_is_the_default() {
    let text = reference_config();
    let cfg = parse(&text).unwrap_or_else(|e| panic!("reference does not parse: {e}"));
    let defaults = parse("").unwrap();
    let same =
        |what: &str, a: String, b: String| assert_eq!(a, b, "{what} differs from its default");
    same("listen", cfg.listen.clone(), defaults.listen.clone());
    same(
        "spin",
        format!("{}", cfg.spin_before_park_us),
        format!("{}", defaults.spin_before_park_us),
    );
    same(
        "task_quota_us",
        format!("{}", cfg.task_quota_us),
        format!("{}", defaults.task_quota_us),
    );
    same(
        "data_dir",
        format!("{:?}", cfg.data_dir),
        format!("{:?}", defaults.data_dir),
    );
    same(
        "[http]",
        format!("{:?}", cfg.http),
        format!("{:?}", defaults.http),
    );
    same(
        "[ingest]",
        format!("{:?}", cfg.ingest),
        format!("{:?}", defaults.ingest),
    );
    same(
        "[wal]",
        format!("{:?}", cfg.wal),
        format!("{:?}", defaults.wal),
    );
    same(
        "[egress]",
        format!("{:?}", cfg.egress),
        format!("{:?}", defaults.egress),
    );
    same(
        "[log]",
        format!("{:?}", cfg.log),
        format!("{:?}", defaults.log),
    );
    assert!(cfg.tls.is_none() && cfg.auth.is_none() && cfg.shards.is_none());
    // The demo pipeline makes it a configuration a server starts with.
    let demo = parse(config::DEFAULT_CONFIG_TOML).unwrap();
    assert_eq!(cfg.pipelines.len(), demo.pipelines.len());
    cfg.validate(std::path::Path::new("."))
        .expect("reference validates");
}

/// Every key of docs/config.md's tables is in the reference (set, or
/// commented out for optional sections and machine-dependent defaults).
#[test]
fn reference_names_every_documented_key() {
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/config.md")).unwrap();
    let text = reference_config();
    let mut keys = 0;
    for line in docs.lines().filter(|l| l.starts_with("| `")) {
        let cell = line.split('|').nth(1).unwrap();
        for key in cell.split('`').skip(1).step_by(2) {
            if matches!(key, "name" | "sql") {
                continue; // [[pipeline]]: the demo pipeline has them
            }
            let set = text.lines().any(|l| {
                let l = l.trim_start_matches("# ");
                l.starts_with(&format!("{key} =")) || l.starts_with(&format!("{key}="))
            });
            assert!(
                set,
                "docs/config.md documents `{key}`, the reference does not set it"
            );
            keys += 1;
        }
    }
    assert!(keys > 40, "only {keys} keys found in docs/config.md");
}

#[test]
fn the_flag_prints_the_reference() {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--print-default-config")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), reference_config());
}
