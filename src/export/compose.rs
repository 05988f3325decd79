//! Compose: one container per service, all from the one image the user names, with the project
//! bind-mounted at `/project`, each service's command as the entrypoint, its ports published,
//! `depends_on` with conditions, a healthcheck from its readiness probe (`reaper probe`, which
//! the image must have), and its stop signal and grace period.
//!
//! A service with `replicas` stays one Compose service per copy (`web.1`, `web.2`, …) rather than
//! `deploy.replicas`: each copy has its own port and `REAPER_REPLICA`, which Compose's replicas
//! cannot vary. A task has no healthcheck and its dependents wait for
//! `service_completed_successfully`; `profiles` are Compose's own, and `watch` becomes
//! `develop.watch` with the `restart` action.

use std::path::Path;

use serde::Serialize;

use super::{
    CommandForm, Export, ExportFile, common_notes, condition_on, duration_text, environment,
};
use crate::stack::{DependencyCondition, Readiness, RestartPolicy, Service, ServiceKind, Stack};

/// Where the project is mounted in every container.
pub const PROJECT_MOUNT: &str = "/project";

/// Settings of a Compose export.
#[derive(Debug, Clone)]
pub struct ComposeOptions {
    /// The Compose project name.
    pub name: String,
    /// The image every service runs in.
    pub image: String,
    /// The directory the Compose file will be in: relative paths in it start there.
    pub base: std::path::PathBuf,
}

/// A map that keeps its order (services in declaration order, variables as written).
#[derive(Debug)]
struct Ordered<V>(Vec<(String, V)>);

impl<V: Serialize> Serialize for Ordered<V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl<V> Ordered<V> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[derive(Debug, Serialize)]
struct ComposeFile {
    name: String,
    services: Ordered<ComposeService>,
}

#[derive(Debug, Serialize)]
struct ComposeService {
    image: String,
    entrypoint: Vec<String>,
    working_dir: String,
    volumes: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    env_file: Vec<String>,
    #[serde(skip_serializing_if = "Ordered::is_empty")]
    environment: Ordered<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ports: Vec<PortMapping>,
    #[serde(skip_serializing_if = "Ordered::is_empty")]
    depends_on: Ordered<Condition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    healthcheck: Option<Healthcheck>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    profiles: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    develop: Option<Develop>,
    restart: String,
    stop_signal: String,
    stop_grace_period: String,
}

/// The long form: the short `"8001:8001"` is a number in base 60 to YAML 1.1 readers when both
/// sides are below 60.
#[derive(Debug, Serialize)]
struct PortMapping {
    target: u16,
    published: u16,
}

#[derive(Debug, Serialize)]
struct Condition {
    condition: &'static str,
}

/// `develop.watch`, read by `docker compose watch` (and `up --watch`).
#[derive(Debug, Serialize)]
struct Develop {
    watch: Vec<WatchRule>,
}

#[derive(Debug, Serialize)]
struct WatchRule {
    path: String,
    action: &'static str,
    include: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ignore: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Healthcheck {
    test: Vec<String>,
    interval: String,
    timeout: String,
    retries: u32,
    start_period: String,
    start_interval: String,
}

/// Compose replaces `$VAR` in every value of the file: `$$` keeps a `$`.
fn literal(text: &str) -> String {
    text.replace('$', "$$")
}

/// A path relative to the Compose file, as Compose reads a relative bind mount or env file
/// (a bare name would be a named volume).
fn from_base(path: &Path, base: &Path) -> String {
    let relative = super::slashed(&super::relative_to(path, base));
    if relative.starts_with('.') {
        relative
    } else {
        format!("./{relative}")
    }
}

/// True when the service has a probe that `reaper probe` can run in a container.
fn has_healthcheck(service: &Service) -> bool {
    service.kind != ServiceKind::Task
        && matches!(
            service.probe(service.port),
            Some(Readiness::Tcp(_) | Readiness::Http(_))
        )
}

/// The Compose file for `stack`.
pub fn export(stack: &Stack, options: &ComposeOptions) -> Export {
    let mut notes = super::stack_notes(stack);
    let mut services = Vec::new();
    let stack_file = super::relative_to(&stack.file, &stack.root);
    for service in &stack.services {
        common_notes(service, &mut notes);
        let cwd = super::relative_to(&service.cwd, &stack.root);
        let working_dir = if cwd.starts_with("..") {
            notes.push(format!(
                "service `{}`: cwd {} is outside the project mounted at {PROJECT_MOUNT}",
                service.name,
                service.cwd.display()
            ));
            PROJECT_MOUNT.to_string()
        } else if cwd == Path::new(".") {
            PROJECT_MOUNT.to_string()
        } else {
            format!("{PROJECT_MOUNT}/{}", super::slashed(&cwd))
        };
        let task = service.kind == ServiceKind::Task;
        let healthcheck = match service.probe(service.port).filter(|_| !task) {
            Some(Readiness::Log(_)) => {
                notes.extend(super::log_probe_note(service, "Compose"));
                None
            }
            Some(_) => Some(Healthcheck {
                test: vec![
                    "CMD".into(),
                    "reaper".into(),
                    "probe".into(),
                    "-f".into(),
                    literal(&format!("{PROJECT_MOUNT}/{}", super::slashed(&stack_file))),
                    service.name.clone(),
                ],
                interval: "5s".into(),
                timeout: "5s".into(),
                retries: 3,
                start_period: duration_text(service.ready_timeout),
                start_interval: "500ms".into(),
            }),
            None => None,
        };
        let depends_on = service
            .depends_on
            .iter()
            .map(|dep| {
                let condition = match condition_on(service, dep) {
                    DependencyCondition::Started => "service_started",
                    DependencyCondition::CompletedSuccessfully => "service_completed_successfully",
                    DependencyCondition::Healthy
                        if stack.service(dep).is_some_and(has_healthcheck) =>
                    {
                        "service_healthy"
                    }
                    // No healthcheck: the dependency is ready once started, as under reaper.
                    DependencyCondition::Healthy => "service_started",
                    DependencyCondition::LogReady => {
                        notes.push(format!(
                            "service `{}`: depends_on {dep} = \"log_ready\" (Compose has no \
                             log condition: it waits only until `{dep}` has started)",
                            service.name
                        ));
                        "service_started"
                    }
                };
                (dep.clone(), Condition { condition })
            })
            .collect();
        let develop = service.watch.as_ref().map(|watch| {
            notes.push(format!(
                "service `{}`: watch_debounce = {}{} (`docker compose watch` restarts only this \
                 service, at once)",
                service.name,
                duration_text(watch.debounce),
                if watch.restart_dependents {
                    " and restart_dependents = true"
                } else {
                    ""
                }
            ));
            Develop {
                watch: vec![WatchRule {
                    path: literal(&from_base(&stack.root, &options.base)),
                    action: "restart",
                    include: watch.patterns.iter().map(|p| literal(p)).collect(),
                    ignore: watch.ignore_patterns.iter().map(|p| literal(p)).collect(),
                }],
            }
        });
        let restart = match service.restart {
            RestartPolicy::OnFailure => format!("on-failure:{}", service.max_restarts),
            policy => super::restart_text(policy).to_string(),
        };
        if service.restart != RestartPolicy::No {
            notes.push(format!(
                "service `{}`: backoff = {} and max_backoff = {} (Compose's restart delay is \
                 the engine's own){}",
                service.name,
                duration_text(service.backoff),
                duration_text(service.max_backoff),
                if service.restart == RestartPolicy::Always {
                    format!(
                        "; max_restarts = {} (Compose limits only on-failure restarts)",
                        service.max_restarts
                    )
                } else {
                    String::new()
                }
            ));
        }
        services.push((
            service.name.clone(),
            ComposeService {
                image: options.image.clone(),
                entrypoint: CommandForm::of(service)
                    .argv()
                    .iter()
                    .map(|word| literal(word))
                    .collect(),
                working_dir: literal(&working_dir),
                volumes: vec![literal(&format!(
                    "{}:{PROJECT_MOUNT}",
                    from_base(&stack.root, &options.base)
                ))],
                env_file: service
                    .env_files
                    .iter()
                    .map(|file| literal(&from_base(file, &options.base)))
                    .collect(),
                environment: Ordered(
                    environment(service)
                        .into_iter()
                        .map(|(key, value)| (key, literal(&value)))
                        .collect(),
                ),
                ports: service
                    .port
                    .map(|port| {
                        vec![PortMapping {
                            target: port,
                            published: port,
                        }]
                    })
                    .unwrap_or_default(),
                depends_on: Ordered(depends_on),
                healthcheck,
                profiles: service.profiles.clone(),
                develop,
                restart,
                stop_signal: service.stop_signal.to_string(),
                stop_grace_period: duration_text(service.stop_timeout),
            },
        ));
    }
    let any_healthcheck = stack.services.iter().any(has_healthcheck);
    let file = ComposeFile {
        name: options.name.clone(),
        services: Ordered(services),
    };
    let yaml = serde_saphyr::to_string(&file).expect("the Compose file serialises");
    let mut contents = String::new();
    for line in super::header_lines("compose", stack, &notes) {
        contents.push_str(&format!("# {line}\n"));
    }
    contents.push_str("# Run: docker compose -f FILE up (paths are relative to this file).\n");
    if any_healthcheck {
        contents
            .push_str("# Healthchecks run `reaper probe`: the image needs reaper on its PATH.\n");
    }
    contents.push_str(&yaml);
    if !contents.ends_with('\n') {
        contents.push('\n');
    }
    Export {
        files: vec![ExportFile {
            name: "compose.yaml".into(),
            contents,
        }],
        notes,
    }
}
