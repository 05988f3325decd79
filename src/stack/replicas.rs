//! `replicas = N`: a service run as N copies, expanded when the configuration is loaded so that
//! every copy is an ordinary service (its own record, keeper, log, restarts and readiness) and
//! nothing after loading knows about replicas.
//!
//! Copy `i` (from 1) of `web` is named `web.i`, gets `REAPER_REPLICA=i` and, when `web` declares
//! `port = P`, the port `P + i - 1` (exported as PORT; a readiness probe on P follows it). A
//! service that depends on `web` depends on every copy. `replicas = 1` keeps the plain name.

use std::collections::HashMap;

use toml::Spanned;

use super::config::Errors;
use super::interpolate::REPLICA_VARIABLE;
use super::{HttpTarget, Readiness, Service};

/// Most copies of one service.
pub const MAX_REPLICAS: i64 = 100;

/// Replaces each service named in `replicated` (with its `replicas` value) by its copies, and
/// every dependency on it by dependencies on the copies. Problems (a count out of range, a copy
/// whose name or port is taken) go to `errors`.
pub(crate) fn expand(
    services: Vec<Service>,
    replicated: &[(String, Spanned<i64>)],
    errors: &mut Errors<'_>,
) -> Vec<Service> {
    let mut counts: HashMap<&str, (u16, std::ops::Range<usize>)> = HashMap::new();
    for (name, count) in replicated {
        match u16::try_from(*count.get_ref()) {
            Ok(n) if (1..=MAX_REPLICAS).contains(&i64::from(n)) => {
                counts.insert(name, (n, count.span()));
            }
            _ => errors.at(
                count.span(),
                format!(
                    "service `{name}`: replicas = {} is out of range",
                    count.get_ref()
                ),
                Some(format!("give a number of copies from 1 to {MAX_REPLICAS}")),
            ),
        }
    }
    let taken: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
    let mut ports: HashMap<u16, String> = services
        .iter()
        .filter_map(|s| Some((s.port?, s.name.clone())))
        .collect();
    let mut groups: HashMap<String, Vec<String>> = HashMap::new();
    let mut expanded = Vec::with_capacity(services.len());
    for service in services {
        let Some((count, span)) = counts.get(service.name.as_str()).cloned() else {
            expanded.push(service);
            continue;
        };
        if count == 1 {
            expanded.push(service);
            continue;
        }
        let mut members = Vec::new();
        for index in 1..=count {
            let name = format!("{}.{index}", service.name);
            if taken.contains(&name) {
                errors.at(
                    span.clone(),
                    format!(
                        "service `{}`: copy `{name}` has the name of another service",
                        service.name
                    ),
                    Some("rename that service, or lower replicas".into()),
                );
            } else if let Err(why) = crate::state::validate_new_name(&name) {
                errors.at(
                    span.clone(),
                    format!("service `{}`: copy `{name}`: {why}", service.name),
                    Some("use a shorter service name".into()),
                );
            }
            let mut copy = service.clone();
            copy.name = name.clone();
            copy.replica_of = Some(service.name.clone());
            copy.env.push((REPLICA_VARIABLE.into(), index.to_string()));
            if let Some(base) = service.port {
                match base.checked_add(index - 1) {
                    Some(port) if index == 1 => copy.port = Some(port),
                    Some(port) => {
                        if let Some(other) = ports.get(&port) {
                            errors.at(
                                span.clone(),
                                format!(
                                    "service `{}`: copy `{name}` would listen on port {port}, the port of `{other}`",
                                    service.name
                                ),
                                Some(format!(
                                    "copies take ports {base}..{}: move the other service or this one's port",
                                    u32::from(base) + u32::from(count) - 1
                                )),
                            );
                        }
                        ports.insert(port, name.clone());
                        copy.port = Some(port);
                        copy.ready = shifted(service.ready.as_ref(), base, port);
                    }
                    None => errors.at(
                        span.clone(),
                        format!(
                            "service `{}`: copy `{name}` would need a port above 65535",
                            service.name
                        ),
                        Some("lower the port or the number of replicas".into()),
                    ),
                }
            }
            members.push(name);
            expanded.push(copy);
        }
        groups.insert(service.name, members);
    }
    for service in &mut expanded {
        service.depends_on = service
            .depends_on
            .iter()
            .flat_map(|dep| {
                groups
                    .get(dep)
                    .cloned()
                    .unwrap_or_else(|| vec![dep.clone()])
            })
            .collect();
        // A condition on NAME is a condition on each of its copies.
        service.conditions = std::mem::take(&mut service.conditions)
            .into_iter()
            .flat_map(|(dep, condition)| {
                groups
                    .get(&dep)
                    .cloned()
                    .unwrap_or_else(|| vec![dep])
                    .into_iter()
                    .map(move |member| (member, condition))
            })
            .collect();
    }
    expanded
}

/// A readiness probe aimed at the declared `base` port, moved to a copy's `port`.
fn shifted(ready: Option<&Readiness>, base: u16, port: u16) -> Option<Readiness> {
    match ready? {
        Readiness::Tcp(p) if *p == base => Some(Readiness::Tcp(port)),
        Readiness::Http(url) => Some(Readiness::Http(
            HttpTarget::parse(url)
                .filter(|target| target.port == base)
                .map_or_else(|| url.clone(), |target| target.with_port(port)),
        )),
        other => Some(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_on_the_declared_port_move_with_each_copy() {
        let moved = |ready: Readiness| shifted(Some(&ready), 8000, 8002).unwrap().to_string();
        assert_eq!(moved(Readiness::Tcp(8000)), "tcp 8002");
        assert_eq!(moved(Readiness::Tcp(9000)), "tcp 9000");
        assert_eq!(
            moved(Readiness::Http("http://127.0.0.1:8000/health".into())),
            "http http://127.0.0.1:8002/health"
        );
        assert_eq!(
            moved(Readiness::Http("http://127.0.0.1:$PORT/health".into())),
            "http http://127.0.0.1:$PORT/health"
        );
    }
}
