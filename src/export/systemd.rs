//! systemd: one `NAME-SERVICE.service` per service and a `NAME.target` that wants them all.
//!
//! The stop semantics are systemd's own and match reaper's: `KillMode=control-group` signals
//! every process of the service's cgroup (escapees included) with `KillSignal=`, then SIGKILL
//! after `TimeoutStopSec=`. Readiness is `ExecStartPost=reaper probe --wait …`, so a unit counts
//! as started (and the units ordered `After=` it start) only once its probe passes.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::PathBuf;

use super::{
    Export, ExportFile, absolute_argv, common_notes, duration_text, environment, restart_text,
};
use crate::stack::{Readiness, RestartPolicy, Service, Stack};

/// Settings of a systemd export.
#[derive(Debug, Clone)]
pub struct SystemdOptions {
    /// Prefix of every unit name, and the target's name.
    pub name: String,
    /// User units (`systemctl --user`) instead of system units.
    pub user: bool,
    /// The `reaper` program the units call for readiness probes.
    pub reaper: PathBuf,
    /// PATH to find the services' programs on.
    pub search_path: Option<OsString>,
}

/// The units for `stack`.
pub fn export(stack: &Stack, options: &SystemdOptions) -> Export {
    let mut notes = super::stack_notes(stack);
    let mut units = Vec::new();
    for service in &stack.services {
        let (unit, mut service_notes) = service_unit(stack, service, options);
        notes.append(&mut service_notes);
        units.push(ExportFile {
            name: unit_name(options, &service.name),
            contents: unit,
        });
    }
    let header = super::header_lines("systemd", stack, &notes);
    for unit in &mut units {
        unit.contents = with_header(&header, &unit.contents);
    }
    let target = target_unit(stack, options);
    units.push(ExportFile {
        name: format!("{}.target", options.name),
        contents: with_header(&header, &target),
    });
    Export {
        files: units,
        notes,
    }
}

fn unit_name(options: &SystemdOptions, service: &str) -> String {
    format!("{}-{service}.service", options.name)
}

fn with_header(header: &[String], body: &str) -> String {
    let mut out = String::new();
    for line in header {
        let _ = writeln!(out, "# {line}");
    }
    out.push_str(body);
    out
}

fn target_unit(stack: &Stack, options: &SystemdOptions) -> String {
    let (dir, systemctl, wanted_by) = if options.user {
        (
            "~/.config/systemd/user/",
            "systemctl --user",
            "default.target",
        )
    } else {
        ("/etc/systemd/system/", "systemctl", "multi-user.target")
    };
    let wants: Vec<String> = stack
        .services
        .iter()
        .map(|s| unit_name(options, &s.name))
        .collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Install: copy these files to {dir}, then `{systemctl} daemon-reload && {systemctl} start {}.target`.",
        options.name
    );
    let _ = writeln!(out, "[Unit]");
    let _ = writeln!(
        out,
        "Description={}",
        escape_value(&format!("{} stack", options.name))
    );
    let _ = writeln!(out, "Wants={}", wants.join(" "));
    let _ = writeln!(out);
    let _ = writeln!(out, "[Install]");
    let _ = writeln!(out, "WantedBy={wanted_by}");
    out
}

fn service_unit(
    stack: &Stack,
    service: &Service,
    options: &SystemdOptions,
) -> (String, Vec<String>) {
    let mut notes = Vec::new();
    common_notes(service, &mut notes);
    let mut unit = String::new();
    let _ = writeln!(unit, "[Unit]");
    let _ = writeln!(
        unit,
        "Description={}",
        escape_value(&format!("{}: {}", options.name, service.name))
    );
    let _ = writeln!(unit, "PartOf={}.target", options.name);
    for dep in &service.depends_on {
        let dep_unit = unit_name(options, dep);
        let _ = writeln!(unit, "Requires={dep_unit}");
        let _ = writeln!(unit, "After={dep_unit}");
    }
    if service.restart != RestartPolicy::No {
        // reaper gives up after max_restarts consecutive restarts, counting again once the service
        // stayed up for max_backoff; systemd counts starts within an interval.
        let starts = service.max_restarts.saturating_add(1);
        let interval = service.max_backoff.saturating_mul(starts);
        let _ = writeln!(unit, "StartLimitBurst={starts}");
        let _ = writeln!(unit, "StartLimitIntervalSec={}", duration_text(interval));
    }
    let _ = writeln!(unit);
    let _ = writeln!(unit, "[Service]");
    let _ = writeln!(unit, "Type=exec");
    let _ = writeln!(
        unit,
        "ExecStart={}",
        exec_line(&absolute_argv(
            service,
            options.search_path.as_deref(),
            &mut notes
        ))
    );
    let _ = writeln!(
        unit,
        "WorkingDirectory={}",
        escape_value(&service.cwd.to_string_lossy())
    );
    for file in &service.env_files {
        let _ = writeln!(
            unit,
            "EnvironmentFile={}",
            escape_value(&file.to_string_lossy())
        );
    }
    let env = environment(service);
    for (key, value) in &env {
        let _ = writeln!(
            unit,
            "Environment={}",
            quote_word(&escape_value(&format!("{key}={value}")))
        );
    }
    // systemd lets EnvironmentFile= win over Environment=; reaper lets `env` win.
    for file in &service.env_files {
        let Ok(vars) = crate::dotenv::read(file) else {
            continue;
        };
        for (key, _) in vars {
            if env.iter().any(|(k, _)| *k == key) {
                notes.push(format!(
                    "service `{}`: {key} is set by `env` and by {}: systemd lets the file win",
                    service.name,
                    file.display()
                ));
            }
        }
    }
    match service.probe(service.port) {
        Some(Readiness::Log(_)) => notes.extend(super::log_probe_note(service, "systemd")),
        Some(_) => {
            let probe = [
                options.reaper.to_string_lossy().into_owned(),
                "probe".into(),
                "-f".into(),
                stack.file.to_string_lossy().into_owned(),
                "--wait".into(),
                duration_text(service.ready_timeout),
                service.name.clone(),
            ];
            let _ = writeln!(unit, "ExecStartPost={}", exec_line(&probe));
            // The probe gives up after ready_timeout; systemd must not give up first.
            let _ = writeln!(
                unit,
                "TimeoutStartSec={}",
                duration_text(service.ready_timeout + std::time::Duration::from_secs(5))
            );
        }
        None => {}
    }
    let _ = writeln!(unit, "Restart={}", restart_text(service.restart));
    if service.restart != RestartPolicy::No {
        let _ = writeln!(unit, "RestartSec={}", duration_text(service.backoff));
        if service.max_backoff > service.backoff {
            notes.push(format!(
                "service `{}`: the restart delay doubling from {} up to {} (systemd waits \
                 RestartSec={} every time; systemd 254 and later can add RestartSteps= and \
                 RestartMaxDelaySec=)",
                service.name,
                duration_text(service.backoff),
                duration_text(service.max_backoff),
                duration_text(service.backoff)
            ));
        }
    }
    let _ = writeln!(unit, "KillMode=control-group");
    let _ = writeln!(unit, "KillSignal={}", service.stop_signal);
    let _ = writeln!(
        unit,
        "TimeoutStopSec={}",
        duration_text(service.stop_timeout)
    );
    (unit, notes)
}

/// `%` starts a specifier in every unit setting.
fn escape_value(value: &str) -> String {
    value.replace('%', "%%")
}

/// A command line for `ExecStart=`: each word quoted when needed, `$` doubled (systemd expands
/// `$VAR` in command lines; the program must see the `$`) and `%` doubled.
fn exec_line(argv: &[String]) -> String {
    argv.iter()
        .map(|word| quote_word(&escape_value(&word.replace('$', "$$"))))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A word as systemd's command-line and `Environment=` parser reads it back.
fn quote_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_.,:@=+-$%".contains(c));
    if plain {
        return word.to_string();
    }
    let mut out = String::from("\"");
    for c in word.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_survive_systemd_parsing() {
        let argv: Vec<String> = ["/bin/sh", "-c", "echo \"$PORT\" 100% \\ done"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            exec_line(&argv),
            r#"/bin/sh -c "echo \"$$PORT\" 100%% \\ done""#
        );
        assert_eq!(quote_word(""), "\"\"");
    }
}
