//! Telling someone: which findings are new since the last scan and which are gone
//! (`reaper watch` notifies once per finding, not once per scan), and the one-line description a
//! notification or a log line gives each.

use std::collections::BTreeMap;

use crate::process::Pid;

use super::{Finding, FindingKind};

/// What makes two findings of successive scans the same problem.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingKey {
    /// A process: its kind, pid and start time (a reused pid is another process).
    Process {
        /// The finding's kind.
        kind: FindingKind,
        /// The process.
        pid: Option<Pid>,
        /// Its start-time token.
        start_time: Option<u64>,
    },
    /// A declared port held by someone else, whoever holds it.
    Port {
        /// The port.
        port: Option<u16>,
        /// The service that declares it.
        service: Option<String>,
    },
    /// A stale record or pid file, by its name.
    Record {
        /// The record's name.
        name: Option<String>,
    },
}

impl Finding {
    /// The identity of the problem this finding reports, for de-duplication across scans.
    pub fn key(&self) -> FindingKey {
        match self.kind {
            FindingKind::PortConflict => FindingKey::Port {
                port: self.port,
                service: self.service.clone(),
            },
            FindingKind::StaleRecord => FindingKey::Record {
                name: self.service.clone(),
            },
            kind => FindingKey::Process {
                kind,
                pid: self.pid,
                start_time: self.start_time,
            },
        }
    }

    /// One line naming the finding: `zombie pid 42 (service api): evidence`.
    pub fn headline(&self) -> String {
        let mut text = self.kind.title();
        if let Some(port) = self.port {
            text.push_str(&format!(" port {port}"));
        }
        if let Some(pid) = self.pid {
            text.push_str(&format!(" pid {pid}"));
        }
        if let Some(service) = &self.service {
            text.push_str(&format!(" (service {service})"));
        }
        format!("{text}: {}", self.evidence)
    }
}

impl FindingKind {
    /// The kind's name as the report spells it, with spaces (`port conflict`).
    pub fn title(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(|name| name.replace('_', " ")))
            .unwrap_or_default()
    }
}

/// What changed between two scans.
#[derive(Debug, Default)]
pub struct Changes {
    /// Findings the previous scan did not have.
    pub new: Vec<Finding>,
    /// Findings of the previous scan that this one no longer has.
    pub resolved: Vec<Finding>,
}

impl Changes {
    /// True when nothing appeared and nothing went away.
    pub fn is_empty(&self) -> bool {
        self.new.is_empty() && self.resolved.is_empty()
    }
}

/// Remembers the findings of the last scan.
#[derive(Debug, Default)]
pub struct FindingTracker {
    known: BTreeMap<FindingKey, Finding>,
}

impl FindingTracker {
    /// Takes this scan's findings and says which are new and which are gone since the last.
    pub fn update(&mut self, findings: &[Finding]) -> Changes {
        let current: BTreeMap<FindingKey, Finding> =
            findings.iter().map(|f| (f.key(), f.clone())).collect();
        let new = current
            .iter()
            .filter(|(key, _)| !self.known.contains_key(key))
            .map(|(_, f)| f.clone())
            .collect();
        let previous = std::mem::replace(&mut self.known, current);
        let resolved = previous
            .into_iter()
            .filter(|(key, _)| !self.known.contains_key(key))
            .map(|(_, f)| f)
            .collect();
        Changes { new, resolved }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(kind: FindingKind, pid: Pid, start_time: u64) -> Finding {
        Finding {
            kind,
            pid: Some(pid),
            start_time: Some(start_time),
            ppid: Some(1),
            command: None,
            service: Some("api".into()),
            run_id: None,
            port: None,
            cpu_percent: None,
            age_secs: None,
            owned: false,
            evidence: format!("seen at {start_time}"),
            fix: String::new(),
        }
    }

    fn pids(findings: &[Finding]) -> Vec<Option<Pid>> {
        findings.iter().map(|f| f.pid).collect()
    }

    #[test]
    fn a_finding_is_new_once_and_resolved_once() {
        let mut tracker = FindingTracker::default();
        let zombie = finding(FindingKind::Zombie, 42, 7);
        let first = tracker.update(std::slice::from_ref(&zombie));
        assert_eq!(pids(&first.new), [Some(42)]);
        assert!(first.resolved.is_empty());
        // The same problem again, with other evidence text (its age grew): nothing to say.
        let mut again = zombie.clone();
        again.evidence = "seen later".into();
        assert!(tracker.update(&[again]).is_empty());
        let gone = tracker.update(&[]);
        assert!(gone.new.is_empty());
        assert_eq!(pids(&gone.resolved), [Some(42)]);
        assert!(tracker.update(&[]).is_empty());
    }

    #[test]
    fn a_reused_pid_is_another_finding() {
        let mut tracker = FindingTracker::default();
        tracker.update(&[finding(FindingKind::Zombie, 42, 7)]);
        let changes = tracker.update(&[finding(FindingKind::Zombie, 42, 9)]);
        assert_eq!(pids(&changes.new), [Some(42)]);
        assert_eq!(pids(&changes.resolved), [Some(42)]);
    }

    #[test]
    fn a_port_conflict_is_the_same_whoever_holds_the_port() {
        let mut tracker = FindingTracker::default();
        let mut held = finding(FindingKind::PortConflict, 42, 7);
        held.port = Some(8001);
        tracker.update(&[held.clone()]);
        held.pid = Some(43);
        held.start_time = Some(8);
        assert!(tracker.update(&[held]).is_empty());
    }

    #[test]
    fn stale_records_are_known_by_name() {
        let mut tracker = FindingTracker::default();
        tracker.update(&[finding(FindingKind::StaleRecord, 42, 7)]);
        assert!(
            tracker
                .update(&[finding(FindingKind::StaleRecord, 50, 1)])
                .is_empty()
        );
    }
}
