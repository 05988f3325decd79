//! launchd: one LaunchAgent property list per service (`~/Library/LaunchAgents/LABEL.plist`),
//! labelled `reaper.NAME.SERVICE`.
//!
//! launchd starts agents at load and restarts them per `KeepAlive`; it has no dependencies, no
//! readiness, no env files and always stops with SIGTERM: each of these is a note.

use std::ffi::OsString;

use plist::{Dictionary, Value};

use super::{Export, ExportFile, absolute_argv, common_notes, environment};
use crate::signal::Signal;
use crate::stack::{RestartPolicy, ServiceKind, Stack};

/// Settings of a launchd export.
#[derive(Debug, Clone)]
pub struct LaunchdOptions {
    /// The middle part of every label.
    pub name: String,
    /// PATH to find the services' programs on.
    pub search_path: Option<OsString>,
}

/// The property lists for `stack`.
pub fn export(stack: &Stack, options: &LaunchdOptions) -> Export {
    let name = &options.name;
    let mut notes = super::stack_notes(stack);
    let mut plists = Vec::new();
    for service in &stack.services {
        common_notes(service, &mut notes);
        let label = format!("reaper.{name}.{}", service.name);
        let mut dict = Dictionary::new();
        dict.insert("Label".into(), label.clone().into());
        dict.insert(
            "ProgramArguments".into(),
            Value::Array(
                absolute_argv(service, options.search_path.as_deref(), &mut notes)
                    .into_iter()
                    .map(Value::from)
                    .collect(),
            ),
        );
        dict.insert(
            "WorkingDirectory".into(),
            service.cwd.to_string_lossy().into_owned().into(),
        );
        let env = environment(service);
        if !env.is_empty() {
            let mut vars = Dictionary::new();
            for (key, value) in env {
                vars.insert(key, value.into());
            }
            dict.insert("EnvironmentVariables".into(), vars.into());
        }
        for file in &service.env_files {
            notes.push(format!(
                "service `{}`: env_file {} (launchd reads no env files: copy its variables into \
                 EnvironmentVariables)",
                service.name,
                file.display()
            ));
        }
        super::supervisor_notes(service, "launchd", &mut notes);
        dict.insert("RunAtLoad".into(), true.into());
        let task = service.kind == ServiceKind::Task;
        let keep_alive: Option<Value> = match service.restart {
            // A task runs once at load: launchd's default is not to keep it alive.
            RestartPolicy::No if task => None,
            RestartPolicy::No => Some(false.into()),
            RestartPolicy::Always => Some(true.into()),
            RestartPolicy::OnFailure => {
                let mut when = Dictionary::new();
                when.insert("SuccessfulExit".into(), false.into());
                Some(when.into())
            }
        };
        if let Some(keep_alive) = keep_alive {
            dict.insert("KeepAlive".into(), keep_alive);
        }
        if service.restart != RestartPolicy::No {
            // launchd's minimum time between starts, in whole seconds (at least 1).
            let throttle = service.backoff.as_secs_f64().ceil().max(1.0) as i64;
            dict.insert("ThrottleInterval".into(), throttle.into());
            notes.push(format!(
                "service `{}`: max_restarts = {} and the restart delay doubling up to {} \
                 (launchd restarts every ThrottleInterval = {throttle}s, without a limit)",
                service.name,
                service.max_restarts,
                super::duration_text(service.max_backoff)
            ));
        }
        let log = stack
            .root
            .join(".logs")
            .join(format!("{}.log", service.name));
        let log = log.to_string_lossy().into_owned();
        dict.insert("StandardOutPath".into(), log.clone().into());
        dict.insert("StandardErrorPath".into(), log.into());
        // launchd's ExitTimeOut is whole seconds.
        let exit_timeout = service.stop_timeout.as_secs_f64().ceil() as i64;
        dict.insert("ExitTimeOut".into(), exit_timeout.into());
        if service.stop_signal != Signal::Term {
            notes.push(format!(
                "service `{}`: stop_signal = \"{}\" (launchd always sends SIGTERM)",
                service.name, service.stop_signal
            ));
        }
        if !service.depends_on.is_empty() {
            notes.push(format!(
                "service `{}`: depends_on = {{ {} }} (launchd starts every agent at once)",
                service.name,
                super::depends_on_text(service)
            ));
        }
        if let Some(probe) = service.probe(service.port).filter(|_| !task) {
            notes.push(format!(
                "service `{}`: readiness ({probe}; launchd has no readiness: check it with \
                 `reaper probe {}`)",
                service.name, service.name
            ));
        }
        plists.push((label, dict));
    }
    let header = super::header_lines("launchd", stack, &notes);
    let files = plists
        .into_iter()
        .map(|(label, dict)| ExportFile {
            name: format!("{label}.plist"),
            contents: render(&dict, &header),
        })
        .collect();
    Export { files, notes }
}

/// The XML property list with the header as a comment after the document type.
fn render(dict: &Dictionary, header: &[String]) -> String {
    let mut bytes = Vec::new();
    plist::to_writer_xml(&mut bytes, dict).expect("a dictionary of strings serialises");
    let xml = String::from_utf8(bytes).expect("plist writes UTF-8");
    let mut comment = String::from("<!--\n");
    for line in header {
        // "--" may not appear inside an XML comment.
        comment.push_str(&format!("  {}\n", line.replace("--", "- -")));
    }
    comment.push_str(
        "  Install: copy to ~/Library/LaunchAgents/, then `launchctl bootstrap gui/$(id -u) FILE`.\n-->\n",
    );
    let at = xml.find("<plist").unwrap_or(0);
    let mut out = format!("{}{comment}{}", &xml[..at], &xml[at..]);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}
