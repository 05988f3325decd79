//! Golden files of every exporter over the example stack and a stack using every key: what
//! `reaper export` writes, byte for byte (temporary paths shown as [ROOT]). Review a change with
//! `cargo insta review`.
#![cfg(unix)]

mod export_common;

use std::path::Path;

use export_common::{fixtures, joined};

#[test]
fn systemd_units() {
    for (name, fixture) in fixtures() {
        let export = export_common::systemd(&fixture, name, Path::new("/usr/local/bin/reaper"));
        insta::assert_snapshot!(format!("systemd_{name}"), fixture.redact(&joined(&export)));
    }
}

#[test]
fn launchd_agents() {
    for (name, fixture) in fixtures() {
        let export = export_common::launchd(&fixture, name);
        insta::assert_snapshot!(format!("launchd_{name}"), fixture.redact(&joined(&export)));
    }
}

#[test]
fn compose_file() {
    for (name, fixture) in fixtures() {
        let export = export_common::compose(&fixture, name);
        insta::assert_snapshot!(format!("compose_{name}"), fixture.redact(&joined(&export)));
    }
}

#[test]
fn procfile() {
    for (name, fixture) in fixtures() {
        let export = export_common::procfile(&fixture);
        insta::assert_snapshot!(format!("procfile_{name}"), fixture.redact(&joined(&export)));
    }
}

/// Every note is in the output as a comment too: nothing the target cannot say is dropped.
#[test]
fn every_note_is_in_the_output() {
    for (name, fixture) in fixtures() {
        for export in [
            export_common::systemd(&fixture, name, Path::new("/usr/local/bin/reaper")),
            export_common::launchd(&fixture, name),
            export_common::compose(&fixture, name),
            export_common::procfile(&fixture),
        ] {
            assert!(!export.notes.is_empty(), "{name}: {export:?}");
            for file in &export.files {
                for note in &export.notes {
                    assert!(
                        file.contents.contains(note.as_str()),
                        "{name} {}: note missing: {note}",
                        file.name
                    );
                }
            }
        }
    }
}
