//! The one rule for tests that need a tool from outside Rust (strace, nc,
//! chromium, a Python or Node module, root, ...): such a test never passes
//! silently without it.
//!
//! - Under CI (`CI` set to anything but `false`/`0`) a missing tool FAILS the
//!   test, naming the package and `.ci/install-test-tools`, which installs
//!   every tool the tests use. `SOCKREF_ALLOW_SKIP=1` turns that failure back
//!   into a skip, for a CI that knowingly lacks a tool.
//! - Locally the test skips, and says so in a banner written straight to the
//!   terminal's stderr: libtest captures `println!`/`eprintln!` of a passing
//!   test and would hide a skip printed that way (it hid them before).
//!
//! So `cargo test` still passes on a fresh machine, as the README promises,
//! and the person running it sees every skip. docs/testing.md lists the tools.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The script that installs every tool the tests use.
pub const INSTALL_SCRIPT: &str = ".ci/install-test-tools";

/// True when the tests run under CI, where a skip is a failure.
pub fn under_ci() -> bool {
    let set = |name: &str| {
        std::env::var(name)
            .map(|v| !v.is_empty() && v != "0" && v != "false")
            .unwrap_or(false)
    };
    set("CI") && !set("SOCKREF_ALLOW_SKIP")
}

/// Decides what a test does when `what` is missing: returns true (go on)
/// when `present`, panics under CI, otherwise prints the skip banner and
/// returns false (the caller returns). `install` says how to get it, e.g.
/// `apt-get install strace`.
pub fn need(what: &str, present: bool, install: &str) -> bool {
    if present {
        return true;
    }
    let test = format!(
        "tests/{}.rs: {}",
        env!("CARGO_CRATE_NAME"),
        std::thread::current().name().unwrap_or("?")
    );
    let msg = format!(
        "{test} needs {what}, which is missing.\n  install: {install}\n  \
         or run {INSTALL_SCRIPT}, which installs every tool the tests use"
    );
    if under_ci() {
        panic!("{msg}\n  (CI is set, so a missing tool fails; SOCKREF_ALLOW_SKIP=1 would skip)");
    }
    let bar = "=".repeat(72);
    let banner =
        format!("\n{bar}\nSKIPPED {msg}\n  (under CI=true this test fails instead)\n{bar}\n");
    // Straight to fd 2: eprintln! would be captured and hidden by libtest.
    let _ = std::io::stderr().write_all(banner.as_bytes());
    false
}

/// The path of `cmd` on PATH, if any.
pub fn on_path(cmd: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(cmd))
        .find(|p| p.is_file())
}

/// The command `cmd` on PATH, which the apt package `package` provides;
/// `None` means skip (see [`need`]).
pub fn need_command(cmd: &str, package: &str) -> Option<PathBuf> {
    let found = on_path(cmd);
    need(
        &format!("the command `{cmd}`"),
        found.is_some(),
        &format!("apt-get install {package}"),
    )
    .then_some(())?;
    found
}

/// The first of `cmds` on PATH (e.g. chromium under its several names).
pub fn need_any_command(cmds: &[&str], package: &str) -> Option<PathBuf> {
    let found = cmds.iter().find_map(|c| on_path(c));
    need(
        &format!("one of the commands {cmds:?}"),
        found.is_some(),
        &format!("apt-get install {package}"),
    )
    .then_some(())?;
    found
}

/// True when `python3 -c "import MODULE"` works; the pip package
/// `package` provides it.
pub fn need_python_module(module: &str, package: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    need(
        &format!("the Python module `{module}`"),
        ok,
        &format!("pip install '{package}'"),
    )
}

/// Where `npm ci` in tests/node puts the Node modules the tests use.
pub fn node_modules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node/node_modules")
}

/// The directory of the Node module `module` installed from
/// tests/node/package.json (`node` itself is checked too).
pub fn need_node_module(module: &str) -> Option<PathBuf> {
    need_command("node", "nodejs")?;
    let dir = node_modules().join(module);
    need(
        &format!("the Node module `{module}` in tests/node"),
        dir.join("package.json").is_file(),
        "(cd tests/node && npm ci)",
    )
    .then_some(dir)
}
