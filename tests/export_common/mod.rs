//! Helpers for the export tests: the two stacks every exporter is checked on (a copy of
//! examples/devstack with its env files, and tests/data/export/every_key.toml), each in its own
//! temporary directory, and a directory of stand-in programs so that programs resolve to the
//! same paths on every machine.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use reaper::stack::{self, Stack};

/// A stack in a temporary directory, loaded.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub stack: Stack,
}

impl Fixture {
    /// The project root (the temporary directory, canonical).
    pub fn root(&self) -> &Path {
        &self.stack.root
    }

    /// Directory of stand-in programs (python3, node, sleep).
    pub fn bin(&self) -> PathBuf {
        self.root().join("bin")
    }

    /// `text` with the temporary root shown as `[ROOT]`.
    pub fn redact(&self, text: &str) -> String {
        text.replace(&self.root().display().to_string(), "[ROOT]")
    }
}

/// The two stacks, by name.
pub fn fixtures() -> Vec<(&'static str, Fixture)> {
    vec![("devstack", devstack()), ("every_key", every_key())]
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn stand_in_programs(root: &Path) {
    for program in ["python3", "node", "sleep"] {
        let path = root.join("bin").join(program);
        write(&path, "#!/bin/sh\nexit 0\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
}

fn load(dir: tempfile::TempDir) -> Fixture {
    let root = dir.path().canonicalize().unwrap();
    let located = stack::locate(Some(&root.join("reaper.toml")), &root).unwrap();
    let stack = stack::load(&located).unwrap_or_else(|e| panic!("{e}"));
    Fixture { dir, stack }
}

/// examples/devstack, with the env files its README asks for.
pub fn devstack() -> Fixture {
    let dir = tempfile::Builder::new()
        .prefix("devstack")
        .tempdir()
        .unwrap();
    let example = repo().join("examples/devstack");
    for file in ["reaper.toml", "backend/app.py", "frontend/server.js"] {
        write(
            &dir.path().join(file),
            &std::fs::read_to_string(example.join(file)).unwrap(),
        );
    }
    write(&dir.path().join("backend/.env"), "API_TOKEN=secret\n");
    write(
        &dir.path().join("frontend/.env.local"),
        "NEXT_PUBLIC_API_TOKEN=secret\n",
    );
    stand_in_programs(dir.path());
    load(dir)
}

/// tests/data/export/every_key.toml with the directories and env files it names.
pub fn every_key() -> Fixture {
    let dir = tempfile::Builder::new()
        .prefix("every-key")
        .tempdir()
        .unwrap();
    write(
        &dir.path().join("reaper.toml"),
        &std::fs::read_to_string(repo().join("tests/data/export/every_key.toml")).unwrap(),
    );
    write(&dir.path().join("api/.env"), "API_TOKEN=secret\n");
    write(&dir.path().join("shared.env"), "LOG_LEVEL=info\n");
    stand_in_programs(dir.path());
    load(dir)
}

/// Options of each exporter as the golden tests use them: the stack named after its fixture,
/// programs found among the stand-ins, `reaper` at `reaper`.
pub fn systemd(fixture: &Fixture, name: &str, reaper: &Path) -> reaper::export::Export {
    reaper::export::systemd::export(
        &fixture.stack,
        &reaper::export::systemd::SystemdOptions {
            name: name.into(),
            user: true,
            reaper: reaper.to_path_buf(),
            search_path: Some(fixture.bin().into_os_string()),
        },
    )
}

pub fn launchd(fixture: &Fixture, name: &str) -> reaper::export::Export {
    reaper::export::launchd::export(
        &fixture.stack,
        &reaper::export::launchd::LaunchdOptions {
            name: name.into(),
            search_path: Some(fixture.bin().into_os_string()),
        },
    )
}

pub fn compose(fixture: &Fixture, name: &str) -> reaper::export::Export {
    reaper::export::compose::export(
        &fixture.stack,
        &reaper::export::compose::ComposeOptions {
            name: name.replace('_', "-"),
            image: "python:3.12-slim".into(),
            base: fixture.root().to_path_buf(),
        },
    )
}

pub fn procfile(fixture: &Fixture) -> reaper::export::Export {
    reaper::export::procfile::export(&fixture.stack, fixture.root())
}

/// Every file of an export, each after a `==> NAME <==` line, as one text.
pub fn joined(export: &reaper::export::Export) -> String {
    export
        .files
        .iter()
        .map(|f| format!("==> {} <==\n{}", f.name, f.contents))
        .collect::<Vec<_>>()
        .join("\n")
}
