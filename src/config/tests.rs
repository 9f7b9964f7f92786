use super::*;

fn validate(text: &str) -> Result<Validated, String> {
    parse(text)?.validate(Path::new("."))
}

const SQL: &str = "[[pipeline]]\nname = \"p\"\nsql = \"CREATE TABLE t (a INT)\"\n";

#[test]
fn default_config_is_valid_and_has_demo() {
    let v = validate(DEFAULT_CONFIG_TOML).unwrap();
    assert_eq!(v.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(v.pipelines[0].0, "demo");
    assert!(v.pipelines[0].1.len() >= 2);
    assert!(v.auth.is_none());
}

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    for (text, key) in [
        (format!("lisen = \"x\"\n{SQL}"), "lisen"),
        (format!("[http]\nhead_bytes = 5\n{SQL}"), "head_bytes"),
        (format!("{SQL}colour = 1\n"), "colour"),
    ] {
        let e = validate(&text).unwrap_err();
        assert!(e.contains(key), "{e}");
    }
}

#[test]
fn invalid_values_are_errors_naming_the_key() {
    for (text, key) in [
        (format!("listen = \"nowhere\"\n{SQL}"), "listen"),
        (format!("shards = 0\n{SQL}"), "shards"),
        (format!("shards = 2\ncores = [0]\n{SQL}"), "cores"),
        (format!("task_quota_us = 499\n{SQL}"), "task_quota_us"),
        (format!("task_quota_us = 100001\n{SQL}"), "task_quota_us"),
        (
            format!("[http]\nheaders_max = 0\n{SQL}"),
            "http.headers_max",
        ),
        (
            format!("[http]\nread_buffer_bytes = 1024\n{SQL}"),
            "http.read_buffer_bytes",
        ),
        (
            format!("[ingest]\nbatch_rows = 0\n{SQL}"),
            "ingest.batch_rows",
        ),
        (
            format!("[http]\nbody_bytes_max = -1\n{SQL}"),
            "body_bytes_max",
        ),
        ("listen = \"127.0.0.1:1\"\n".to_string(), "pipeline"),
        (
            "[[pipeline]]\nname = \"a b\"\nsql = \"CREATE TABLE t (a INT)\"\n".to_string(),
            "pipeline.name",
        ),
    ] {
        let e = validate(&text).unwrap_err();
        assert!(e.contains(key), "{key}: {e}");
    }
}

#[test]
fn sql_errors_carry_line_and_column() {
    let text =
        "[[pipeline]]\nname = \"p\"\nsql = \"\"\"\nCREATE TABLE t (\n  a INT,\n  b INTERVAL\n)\"\"\"\n";
    let e = validate(text).unwrap_err();
    assert!(e.contains("line 3"), "{e}");
    assert!(e.contains("INTERVAL"), "{e}");
}
