//! When a dependency's condition is met: the rule the supervisor applies before it starts a
//! service (the conditions themselves are resolved from reaper.toml in
//! [`crate::stack::config`]).

use crate::stack::DependencyCondition;
use crate::stack::status::ServicePhase;

/// What the supervisor knows of a dependency's current run.
#[derive(Debug, Clone, Copy)]
pub(super) struct DependencyState {
    /// Its phase.
    pub phase: ServicePhase,
    /// Its process of the current run has been spawned.
    pub spawned: bool,
}

/// Whether `dependency` meets `condition`. A service that was ready and then exited cleanly
/// (without restart) still counts as healthy, as it did before conditions existed.
pub(super) fn met(condition: DependencyCondition, dependency: DependencyState) -> bool {
    use ServicePhase::{Completed, Exited, Ready};
    match condition {
        DependencyCondition::Started => {
            dependency.spawned || matches!(dependency.phase, Ready | Exited | Completed)
        }
        DependencyCondition::Healthy | DependencyCondition::LogReady => {
            matches!(dependency.phase, Ready | Exited)
        }
        DependencyCondition::CompletedSuccessfully => dependency.phase == Completed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DependencyCondition::*;

    fn state(phase: ServicePhase, spawned: bool) -> DependencyState {
        DependencyState { phase, spawned }
    }

    #[test]
    fn started_needs_the_process_not_readiness() {
        assert!(!met(Started, state(ServicePhase::Waiting, false)));
        assert!(!met(Started, state(ServicePhase::Starting, false)));
        assert!(met(Started, state(ServicePhase::Starting, true)));
        assert!(met(Started, state(ServicePhase::Completed, false)));
    }

    #[test]
    fn healthy_and_log_ready_need_readiness() {
        for condition in [Healthy, LogReady] {
            assert!(!met(condition, state(ServicePhase::Starting, true)));
            assert!(met(condition, state(ServicePhase::Ready, true)));
            assert!(!met(condition, state(ServicePhase::Crashed, false)));
        }
    }

    #[test]
    fn completed_successfully_needs_a_completed_task() {
        assert!(!met(
            CompletedSuccessfully,
            state(ServicePhase::Starting, true)
        ));
        assert!(!met(
            CompletedSuccessfully,
            state(ServicePhase::Failed, false)
        ));
        assert!(met(
            CompletedSuccessfully,
            state(ServicePhase::Completed, false)
        ));
    }
}
