//! The "no silent skips" rule (tests/common/tools.rs) holds: a test whose
//! tool is missing fails under CI and skips with a visible banner locally,
//! and every tool a test asks for is installed by .ci/install-test-tools.

mod common;
use common::tools;

use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Not a test of its own: the body the test below runs in a child process,
/// with SOCKREF_SKIP_PROBE set, to see what a missing tool does there.
#[test]
fn probe_a_missing_tool() {
    if std::env::var_os("SOCKREF_SKIP_PROBE").is_none() {
        return;
    }
    if !tools::need(
        "the command `no-such-tool`",
        false,
        "apt-get install no-such-package",
    ) {
        return;
    }
    unreachable!("need() said a missing tool is present");
}

fn run_probe(ci: Option<&str>) -> (Option<i32>, String) {
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    cmd.args(["--exact", "probe_a_missing_tool", "--test-threads=1"])
        .env("SOCKREF_SKIP_PROBE", "1")
        .env_remove("CI")
        .env_remove("SOCKREF_ALLOW_SKIP");
    if let Some(ci) = ci {
        cmd.env("CI", ci);
    }
    let out = cmd.output().expect("run the probe");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

#[test]
fn a_missing_tool_fails_under_ci_naming_the_package_and_the_script() {
    let (code, out) = run_probe(Some("true"));
    assert_ne!(code, Some(0), "{out}");
    assert!(
        out.contains("probe_a_missing_tool needs the command `no-such-tool`"),
        "{out}"
    );
    assert!(out.contains("apt-get install no-such-package"), "{out}");
    assert!(out.contains(".ci/install-test-tools"), "{out}");
}

#[test]
fn a_missing_tool_skips_locally_with_a_banner_libtest_does_not_hide() {
    for ci in [None, Some("false")] {
        let (code, out) = run_probe(ci);
        assert_eq!(code, Some(0), "{out}");
        // Without --nocapture: the banner got past libtest's capture.
        assert!(
            out.contains("SKIPPED tests/skips.rs: probe_a_missing_tool"),
            "{out}"
        );
        assert!(out.contains("apt-get install no-such-package"), "{out}");
    }
}

/// The `"a", "b"` string arguments of each `NAME(` call in `src`.
fn calls(src: &str, name: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for piece in src.split(&format!("{name}(")).skip(1) {
        let args: Vec<&str> = piece.split('"').collect();
        // piece = `"a", "b")...`: args[1] = a, args[3] = b
        if args.len() > 3 && args[0].trim().is_empty() && args[2].trim() == "," {
            found.push((args[1].to_string(), args[3].to_string()));
        }
    }
    found
}

#[test]
fn every_tool_a_test_needs_is_installed_by_the_script_and_listed_in_the_docs() {
    let script = std::fs::read_to_string(format!("{ROOT}/.ci/install-test-tools"))
        .expect("read .ci/install-test-tools");
    let docs =
        std::fs::read_to_string(format!("{ROOT}/docs/testing.md")).expect("read docs/testing.md");
    let script_lines: Vec<Vec<&str>> = script
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let has = |kind: &str, probe: &str, package: &str| {
        script_lines.iter().any(|w| {
            w.len() >= 3 && w[0] == kind && w[1] == probe && w[2].trim_matches('\'') == package
        })
    };
    let node = std::fs::read_to_string(format!("{ROOT}/tests/node/package.json"))
        .expect("read tests/node/package.json");
    let mut checked = 0;
    for entry in std::fs::read_dir(format!("{ROOT}/tests")).expect("read tests/") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let src = std::fs::read_to_string(&path).expect("read test");
        for (cmd, package) in calls(&src, "need_command") {
            assert!(
                has("need_apt", &cmd, &package),
                "{}: needs `{cmd}` ({package}); add `need_apt {cmd} {package}` to .ci/install-test-tools",
                path.display()
            );
            assert!(
                docs.contains(&format!("`{package}`")),
                "docs/testing.md lacks `{package}`"
            );
            checked += 1;
        }
        for (module, package) in calls(&src, "need_python_module") {
            assert!(
                has("need_pip", &module, &package),
                "{}: needs Python `{module}`; add `need_pip {module} '{package}'` to .ci/install-test-tools",
                path.display()
            );
            assert!(
                docs.contains(&format!("`{package}`")),
                "docs/testing.md lacks `{package}`"
            );
            checked += 1;
        }
        for piece in src.split("need_node_module(\"").skip(1) {
            let module = piece.split('"').next().unwrap_or_default();
            assert!(
                node.contains(&format!("\"{module}\":")),
                "{}: needs Node `{module}`; add it to tests/node/package.json (npm install --save)",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 3,
        "found only {checked} tool calls: did the helper change name?"
    );
}

#[test]
fn no_test_prints_its_own_skip() {
    // A skip printed with println!/eprintln! inside a passing test is hidden
    // by libtest; every skip goes through tests/common/tools.rs instead.
    for entry in std::fs::read_dir(format!("{ROOT}/tests")).expect("read tests/") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("rs") || path.ends_with("skips.rs") {
            continue;
        }
        let src = std::fs::read_to_string(&path).expect("read test");
        assert!(
            !src.contains("SKIPPED"),
            "{}: prints its own SKIPPED; use tests/common/tools.rs (need_command, need, ...)",
            path.display()
        );
    }
}
