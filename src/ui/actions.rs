//! Restart, stop and start, each on a worker thread so the screen never waits: the same library
//! calls and locks as `reaper restart`, `reaper stop` and `reaper start`. The result comes back
//! as an [`Event::ActionDone`].

use std::collections::HashMap;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use crate::service::{
    self, RestartOptions, Selection, StartRequest, StopOptions, request_from_record,
};
use crate::state::{Entry, StateDir};
use crate::supervisor::link::{Controller, Request};
use crate::units::format_duration;

use super::Event;
use super::collect::Hurry;

/// Who starts a stopped service again.
#[derive(Clone)]
pub enum Starter {
    /// `reaper up`'s supervisor, with the stack's spec (ports, readiness, restart policy).
    Supervisor(Controller),
    /// The library, from the record the service had (remembered when the UI stopped it).
    Records,
}

/// Carries out the model's effects.
#[derive(Clone)]
pub struct Actions {
    state: StateDir,
    starter: Starter,
    events: Sender<Event>,
    hurry: Hurry,
    /// Start requests of the services this UI stopped: their records are gone after the stop.
    remembered: Arc<Mutex<HashMap<String, StartRequest>>>,
}

fn done(events: &Sender<Event>, name: &str, result: Result<String, String>) {
    let (message, ok) = match result {
        Ok(message) => (message, true),
        Err(message) => (message, false),
    };
    let _ = events.send(Event::ActionDone {
        name: name.to_string(),
        message,
        ok,
    });
}

impl Actions {
    /// Actions on the services of `state`, reporting to `events`; `hurry` makes their effect
    /// show at once.
    pub fn new(state: StateDir, starter: Starter, events: Sender<Event>, hurry: Hurry) -> Actions {
        Actions {
            state,
            starter,
            events,
            hurry,
            remembered: Arc::default(),
        }
    }

    fn in_background(
        &self,
        name: String,
        work: impl FnOnce(&Actions, &str) -> Result<String, String> + Send + 'static,
    ) {
        let actions = self.clone();
        self.hurry.now();
        let spawned = std::thread::Builder::new()
            .name("ui-action".to_string())
            .spawn(move || {
                let result = work(&actions, &name);
                actions.hurry.now();
                done(&actions.events, &name, result);
            });
        if let Err(e) = spawned {
            done(
                &self.events,
                "",
                Err(format!("cannot start a worker thread: {e}")),
            );
        }
    }

    /// `reaper restart NAME`: the whole tree stopped, the recorded command started again, its
    /// port awaited.
    pub fn restart(&self, name: String) {
        self.in_background(name, |actions, name| {
            service::restart(&actions.state, name, RestartOptions::default())
                .map(|(_, started)| {
                    format!(
                        "restarted {name}: pid {}, ready after {}",
                        started.record.leader.pid,
                        format_duration(started.ready_after)
                    )
                })
                .map_err(|e| format!("restart {name} failed: {e}"))
        });
    }

    /// `reaper stop NAME`.
    pub fn stop(&self, name: String) {
        self.in_background(name, |actions, name| {
            if let Ok(Some(Entry::Record(record))) = actions.state.load(name) {
                if let Ok(request) =
                    request_from_record(&actions.state, &record, &RestartOptions::default())
                {
                    let mut remembered =
                        actions.remembered.lock().unwrap_or_else(|p| p.into_inner());
                    remembered.insert(name.to_string(), request);
                }
            }
            let summary = service::stop(
                &actions.state,
                &Selection::Names(vec![name.to_string()]),
                StopOptions::default(),
            )
            .map_err(|e| format!("stop {name} failed: {e}"))?;
            if let Some((_, why)) = summary.skipped.first() {
                return Err(format!("{name} was not stopped: {why}"));
            }
            if let Some((_, error)) = summary.unremoved.first() {
                return Err(format!("{name} was stopped, but its record stays: {error}"));
            }
            if !summary.complete() {
                return Err(format!("{name}: some processes survived SIGKILL"));
            }
            let ended: usize = summary.reports.iter().map(|r| r.processes.len()).sum();
            Ok(format!(
                "stopped {name} ({ended} processes ended); S starts it again"
            ))
        });
    }

    /// Something happened (the supervisor said so): look at the services again soon.
    pub fn look_again(&self) {
        self.hurry.now();
    }

    /// What `q` does: asks the foreground supervisor to stop the stack (the UI stays until the
    /// supervisor takes the terminal back); true when the UI ends now (`reaper ui`, or the
    /// supervisor is gone).
    pub fn quit(&self) -> bool {
        match &self.starter {
            Starter::Supervisor(controller) => !controller.send(Request::Interrupt),
            Starter::Records => true,
        }
    }

    /// Starts `name` again: through the supervisor in `reaper up`, else from its record.
    pub fn start(&self, name: String) {
        if let Starter::Supervisor(controller) = &self.starter {
            let sent = controller.send(Request::Start(name.clone()));
            self.hurry.now();
            let result = if sent {
                Ok(format!("asked the supervisor to start {name}"))
            } else {
                Err("the supervisor is gone".to_string())
            };
            done(&self.events, &name, result);
            return;
        }
        self.in_background(name, |actions, name| {
            let recorded = match actions.state.load(name) {
                Ok(Some(Entry::Record(record))) => {
                    request_from_record(&actions.state, &record, &RestartOptions::default()).ok()
                }
                _ => None,
            };
            let remembered = actions
                .remembered
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(name)
                .cloned();
            let request = recorded.or(remembered).ok_or_else(|| {
                format!("nothing to start {name} from: no record (start it with `reaper start` or `reaper up`)")
            })?;
            service::start(&actions.state, &request)
                .map(|started| format!("started {name}: pid {}", started.record.leader.pid))
                .map_err(|e| format!("start {name} failed: {e}"))
        });
    }
}
