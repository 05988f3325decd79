//! systemd: one `NAME-SERVICE.service` per service and a `NAME.target` that wants them all.
//!
//! The stop semantics are systemd's own and match reaper's: `KillMode=control-group` signals
//! every process of the service's cgroup (escapees included) with `KillSignal=`, then SIGKILL
//! after `TimeoutStopSec=`. Readiness is `ExecStartPost=reaper probe --wait …`, so a unit counts
//! as started (and the units ordered `After=` it start) only once its probe passes.
//!
//! A service with `replicas` becomes one template unit `NAME-SERVICE@.service` whose instances
//! are the copy numbers (`NAME-web@2.service` is `web.2`): `REAPER_REPLICA=%i`, and `PORT` is
//! computed from it by a `/bin/sh -c` wrapper, because a specifier cannot do arithmetic and one
//! file per copy would not be a template. A task (`kind = "task"`) is `Type=oneshot` with
//! `RemainAfterExit=yes`, so units ordered after it start once it has exited successfully.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::PathBuf;

use super::{
    Export, ExportFile, absolute_argv, common_notes, condition_on, duration_text, environment,
    restart_text,
};
use crate::stack::interpolate::REPLICA_VARIABLE;
use crate::stack::{DependencyCondition, Readiness, RestartPolicy, Service, ServiceKind, Stack};

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
        // The copies of a service differ only in their number: the first one writes the
        // template.
        let template = match &service.replica_of {
            Some(group)
                if units
                    .iter()
                    .any(|u: &ExportFile| u.name == template_name(options, group)) =>
            {
                continue;
            }
            Some(group) => Some(group.as_str()),
            None => None,
        };
        // Notes about the template name the service, not its first copy.
        let group;
        let service = match template {
            Some(name) => {
                group = Service {
                    name: name.to_string(),
                    ..service.clone()
                };
                &group
            }
            None => service,
        };
        let (unit, mut service_notes) = service_unit(stack, service, template, options);
        notes.append(&mut service_notes);
        units.push(ExportFile {
            name: match template {
                Some(group) => template_name(options, group),
                None => unit_name(stack, options, &service.name),
            },
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

/// The unit that runs the service called `name`: an instance of its template for a copy.
fn unit_name(stack: &Stack, options: &SystemdOptions, name: &str) -> String {
    match copy_number(stack, name) {
        Some((group, number)) => format!("{}-{group}@{number}.service", options.name),
        None => format!("{}-{name}.service", options.name),
    }
}

/// For a copy of a service with `replicas` (`web.2`): the service's name and the copy's number.
fn copy_number<'a>(stack: &'a Stack, name: &'a str) -> Option<(&'a str, &'a str)> {
    let group = stack.service(name)?.replica_of.as_deref()?;
    let number = name.strip_prefix(group)?.strip_prefix('.')?;
    Some((group, number))
}

fn template_name(options: &SystemdOptions, group: &str) -> String {
    format!("{}-{group}@.service", options.name)
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
        .map(|s| unit_name(stack, options, &s.name))
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

/// The unit of `service`, or with `template` (the name of the service it is a copy of) the
/// template unit of all its copies.
fn service_unit(
    stack: &Stack,
    service: &Service,
    template: Option<&str>,
    options: &SystemdOptions,
) -> (String, Vec<String>) {
    let mut notes = Vec::new();
    common_notes(service, &mut notes);
    super::supervisor_notes(service, "systemd", &mut notes);
    let mut unit = String::new();
    let _ = writeln!(unit, "[Unit]");
    let description = match template {
        // `%i` is the specifier, so it is added after the escaping.
        Some(group) => format!(
            "{} copy %i",
            escape_value(&format!("{}: {group}", options.name))
        ),
        None => escape_value(&format!("{}: {}", options.name, service.name)),
    };
    let _ = writeln!(unit, "Description={description}");
    let _ = writeln!(unit, "PartOf={}.target", options.name);
    for dep in &service.depends_on {
        let dep_unit = unit_name(stack, options, dep);
        // After= waits for the dependency's start job: its ExecStartPost= probe, or a oneshot's
        // successful exit. Requires= also stops this unit when the dependency fails.
        let strength = match condition_on(service, dep) {
            DependencyCondition::Started => "Wants",
            DependencyCondition::Healthy | DependencyCondition::CompletedSuccessfully => "Requires",
            DependencyCondition::LogReady => {
                notes.push(format!(
                    "service `{}`: depends_on {dep} = \"log_ready\" (systemd does not export \
                     log probes: it waits only until `{dep}` has started)",
                    service.name
                ));
                "Requires"
            }
        };
        let _ = writeln!(unit, "{strength}={dep_unit}");
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
    let task = service.kind == ServiceKind::Task;
    if task {
        let _ = writeln!(unit, "Type=oneshot");
        let _ = writeln!(unit, "RemainAfterExit=yes");
    } else {
        let _ = writeln!(unit, "Type=exec");
    }
    let mut argv = absolute_argv(service, options.search_path.as_deref(), &mut notes);
    let mut env = environment(service);
    if template.is_some() {
        env.retain(|(key, _)| key != REPLICA_VARIABLE);
        let _ = writeln!(unit, "Environment={REPLICA_VARIABLE}=%i");
        let port_set_by_user = service.env.iter().any(|(key, _)| key == "PORT");
        // The template is written from the first copy, whose port is the declared one.
        if let (Some(port), false) = (service.port, port_set_by_user) {
            env.retain(|(key, _)| key != "PORT");
            argv = with_copy_port(port, argv);
        }
    }
    let _ = writeln!(unit, "ExecStart={}", exec_line(&argv));
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
    match service.probe(service.port).filter(|_| !task) {
        Some(Readiness::Log(_)) => notes.extend(super::log_probe_note(service, "systemd")),
        Some(_) => {
            let probe = [
                options.reaper.to_string_lossy().into_owned(),
                "probe".into(),
                "-f".into(),
                stack.file.to_string_lossy().into_owned(),
                "--wait".into(),
                duration_text(service.ready_timeout),
            ];
            // A copy's name holds the `%i` specifier, so it is added after the escaping.
            let name = match template {
                Some(group) => format!("{group}.%i"),
                None => quote_word(&escape_value(&service.name)),
            };
            let _ = writeln!(unit, "ExecStartPost={} {name}", exec_line(&probe));
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

/// `argv` run with `PORT` set for the copy numbered `$REAPER_REPLICA` of a service whose first
/// copy listens on `first_port` (copy `i` on `first_port + i - 1`, as `reaper up` runs it).
fn with_copy_port(first_port: u16, argv: Vec<String>) -> Vec<String> {
    let mut wrapped = vec![
        "/bin/sh".to_string(),
        "-c".into(),
        format!("export PORT=$(({first_port} + {REPLICA_VARIABLE} - 1)); exec \"$@\""),
        "sh".into(),
    ];
    wrapped.extend(argv);
    wrapped
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

    #[cfg(unix)]
    #[test]
    fn each_copy_gets_its_own_port() {
        let argv = with_copy_port(
            8000,
            vec![
                "/bin/sh".into(),
                "-c".into(),
                "echo \"$PORT $1\"".into(),
                "sh".into(),
                "two words".into(),
            ],
        );
        let output = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .env(REPLICA_VARIABLE, "3")
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&output.stdout), "8002 two words\n");
    }
}
