//! Procfile (Heroku, foreman, honcho, and `reaper up` itself): one `NAME: COMMAND` line per
//! service, run by `sh -c` from the Procfile's directory. The platform assigns `PORT`; working
//! directories and `env` become part of the command line.
//!
//! Tasks (`kind = "task"`) become the one `release:` line, run in declaration order and stopping
//! at the first failure: Heroku runs `release` once before each deploy, which is what a task is
//! for; as an ordinary line it would run next to the services, and foreman and honcho stop every
//! process when one exits. The copies of a service with `replicas` are its one line, which the
//! platform scales (it numbers the copies and gives each its PORT).

use std::path::Path;

use super::{CommandForm, Export, ExportFile, common_notes, duration_text};
use crate::signal::Signal;
use crate::stack::config::DEFAULT_STOP_TIMEOUT;
use crate::stack::interpolate::REPLICA_VARIABLE;
use crate::stack::{RestartPolicy, Service, ServiceKind, Stack};

/// The Procfile for `stack`, to be written in `base` (working directories are relative to it).
pub fn export(stack: &Stack, base: &Path) -> Export {
    let mut notes = super::stack_notes(stack);
    let mut lines = Vec::new();
    let mut release = Vec::new();
    for service in &stack.services {
        // The copies of a service with `replicas` are one process type, scaled by the platform.
        let group;
        let service = match &service.replica_of {
            Some(name)
                if lines
                    .iter()
                    .any(|l: &String| l.starts_with(&format!("{name}: "))) =>
            {
                continue;
            }
            Some(name) => {
                let copies = stack.copies_of(name).len();
                notes.push(format!(
                    "service `{name}`: replicas = {copies} (scale the `{name}` line: `foreman \
                     start -m {name}={copies}`, `heroku ps:scale {name}={copies}`)"
                ));
                group = Service {
                    name: name.clone(),
                    ..service.clone()
                };
                &group
            }
            None => service,
        };
        let name = &service.name;
        common_notes(service, &mut notes);
        let mut parts = Vec::new();
        // The platform sets PORT (foreman: 5000, 5100, …; Heroku: its own) and numbers copies
        // itself.
        let env: Vec<String> = service
            .env
            .iter()
            .filter(|(key, _)| key != "PORT" && key != REPLICA_VARIABLE)
            .map(|(key, value)| format!("{key}={}", quote(value)))
            .collect();
        if !env.is_empty() {
            parts.push(format!("export {};", env.join(" ")));
        }
        let cwd = super::relative_to(&service.cwd, base);
        if cwd != Path::new(".") {
            // `||` rather than `&&`: the rest may be several commands, none of which may run
            // elsewhere.
            parts.push(format!("cd {} || exit 1;", quote(&super::slashed(&cwd))));
        }
        parts.push(CommandForm::of(service).shell_line());
        super::supervisor_notes(service, "a Procfile", &mut notes);
        if service.kind == ServiceKind::Task {
            // A subshell each, so that one task's `export`, `cd` and `exit` stay its own.
            release.push(format!("( {} )", parts.join(" ")));
            notes.push(format!(
                "service `{name}`: kind = \"task\" (in the `release:` line: Heroku runs it once \
                 before each deploy; foreman and honcho run it like any line)"
            ));
            continue;
        }
        lines.push(format!("{name}: {}", parts.join(" ")));
        if let Some(port) = service.port {
            notes.push(format!(
                "service `{name}`: port = {port} (the platform assigns PORT)"
            ));
        }
        let dotenv = base.join(".env");
        for file in service.env_files.iter().filter(|f| **f != dotenv) {
            notes.push(format!(
                "service `{name}`: env_file {} (foreman and honcho read only .env; Heroku uses \
                 config vars)",
                file.display()
            ));
        }
        if !service.depends_on.is_empty() {
            notes.push(format!(
                "service `{name}`: depends_on = {{ {} }} (every process starts at once)",
                super::depends_on_text(service)
            ));
        }
        if let Some(ready) = &service.ready {
            notes.push(format!("service `{name}`: ready = {ready}"));
        }
        if service.restart != RestartPolicy::No {
            notes.push(format!(
                "service `{name}`: restart = \"{}\" (the platform decides about restarts)",
                super::restart_text(service.restart)
            ));
        }
        if service.stop_signal != Signal::Term {
            notes.push(format!(
                "service `{name}`: stop_signal = \"{}\" (Procfile platforms send SIGTERM)",
                service.stop_signal
            ));
        }
        if service.stop_timeout != DEFAULT_STOP_TIMEOUT {
            notes.push(format!(
                "service `{name}`: stop_timeout = {} (the platform's own grace period applies)",
                duration_text(service.stop_timeout)
            ));
        }
    }
    if !release.is_empty() {
        lines.insert(0, format!("release: {}", release.join(" && ")));
    }
    let mut contents = String::new();
    for line in super::header_lines("procfile", stack, &notes) {
        contents.push_str(&format!("# {line}\n"));
    }
    for line in lines {
        contents.push_str(&line);
        contents.push('\n');
    }
    Export {
        files: vec![ExportFile {
            name: "Procfile".into(),
            contents,
        }],
        notes,
    }
}

/// One word for `sh`, quoted only when it must be.
fn quote(word: &str) -> String {
    shlex::try_quote(word)
        .map(|q| q.into_owned())
        .unwrap_or_else(|_| word.to_string())
}
