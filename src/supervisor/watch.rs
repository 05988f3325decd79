//! Restart on file change (`watch = [...]` in reaper.toml): one `notify` watcher for the stack
//! (inotify, FSEvents, ReadDirectoryChangesW), events filtered by each service's globs, its
//! `watch_ignore`, the `.gitignore` beside reaper.toml (the `ignore` crate) and reaper's own
//! state and `.git` directories, then debounced per service: a service is reported once its
//! files have been quiet for its `watch_debounce`. The supervisor loop restarts it
//! ([`stop_for_restart`] stops the trees and waits for the ports); a burst of changes during
//! that restart is coalesced into one more restart by the loop.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher};

use std::sync::Arc;

use super::dispatch::Event;
use super::printer::Printer;
use super::worker::{Ctx, Reply, holders_of, stop_options};
use crate::ports;
use crate::stack::control::stop_names;
use crate::stack::{Service, Stack, Watch};
use crate::state::StateDir;

/// How often, at most, a port is looked at while waiting for it to be free.
const PORT_POLL: Duration = Duration::from_millis(10);

/// The running watcher; dropping it stops watching (and its thread ends).
pub(super) struct FileWatch {
    _watcher: notify::RecommendedWatcher,
}

/// What decides whether a changed path concerns a service.
struct Filter {
    root: PathBuf,
    gitignore: ignore::gitignore::Gitignore,
    never: Vec<PathBuf>,
    targets: Vec<(usize, Watch)>,
}

impl Filter {
    /// The services (by index) that `path` concerns, with the path relative to the root.
    fn services_of(&self, path: &Path) -> Option<(String, Vec<usize>)> {
        let relative = path.strip_prefix(&self.root).ok()?;
        if self.never.iter().any(|dir| path.starts_with(dir)) {
            return None;
        }
        let ignored = self
            .gitignore
            .matched_path_or_any_parents(relative, path.is_dir())
            .is_ignore();
        if ignored {
            return None;
        }
        let services: Vec<usize> = self
            .targets
            .iter()
            .filter(|(_, watch)| {
                watch.include.is_match(relative) && !watch.exclude.is_match(relative)
            })
            .map(|(index, _)| *index)
            .collect();
        (!services.is_empty()).then(|| (relative.display().to_string(), services))
    }

    fn debounce(&self, index: usize) -> Duration {
        self.targets
            .iter()
            .find(|(i, _)| *i == index)
            .map_or(Duration::ZERO, |(_, watch)| watch.debounce)
    }
}

/// The directories to watch for `patterns` (relative to `root`): the literal part of each glob,
/// recursively (or, for a plain file name, its directory alone); directories that do not exist
/// yet are watched through their nearest existing parent.
fn watch_roots(root: &Path, patterns: &[String]) -> BTreeMap<PathBuf, RecursiveMode> {
    let mut roots: BTreeMap<PathBuf, RecursiveMode> = BTreeMap::new();
    for pattern in patterns {
        let mut base = root.to_path_buf();
        let mut literal = true;
        for component in Path::new(pattern).components() {
            let Component::Normal(part) = component else {
                continue;
            };
            if part.to_string_lossy().contains(['*', '?', '[', '{']) {
                literal = false;
                break;
            }
            base.push(part);
        }
        let mode = if literal {
            // A file: its directory, not below it.
            base.pop();
            RecursiveMode::NonRecursive
        } else {
            RecursiveMode::Recursive
        };
        while !base.is_dir() && base.pop() {}
        let entry = roots.entry(base).or_insert(mode);
        if mode == RecursiveMode::Recursive {
            *entry = RecursiveMode::Recursive;
        }
    }
    // A directory below a recursively watched one is covered already.
    let recursive: Vec<PathBuf> = roots
        .iter()
        .filter(|(_, mode)| **mode == RecursiveMode::Recursive)
        .map(|(dir, _)| dir.clone())
        .collect();
    roots.retain(|dir, _| !recursive.iter().any(|r| dir != r && dir.starts_with(r)));
    roots
}

/// Starts watching: `targets` are the watched services by index; `state_dirs` never trigger
/// (reaper's own `.run/` and `.logs/`, which change all the time). `changed(index, path)` is
/// called from the watcher's thread once a service's files have been quiet for its debounce,
/// with the first path that changed.
fn start(
    root: &Path,
    state_dirs: Vec<PathBuf>,
    targets: Vec<(usize, Watch)>,
    changed: impl Fn(usize, String) + Send + 'static,
) -> Result<FileWatch, String> {
    // Events name canonical paths (FSEvents reports /private/tmp for /tmp): match against the
    // canonical root.
    let canonical =
        |path: &Path| std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let root = &canonical(root);
    let (gitignore, _partial) = ignore::gitignore::Gitignore::new(root.join(".gitignore"));
    let patterns: Vec<String> = targets
        .iter()
        .flat_map(|(_, watch)| watch.patterns.iter().cloned())
        .collect();
    let mut never: Vec<PathBuf> = state_dirs.iter().map(|dir| canonical(dir)).collect();
    never.push(root.join(".git"));
    let filter = Filter {
        root: root.to_path_buf(),
        gitignore,
        never,
        targets,
    };
    let (sender, events) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(sender).map_err(|e| e.to_string())?;
    for (dir, mode) in watch_roots(root, &patterns) {
        watcher
            .watch(&dir, mode)
            .map_err(|e| format!("cannot watch {}: {e}", dir.display()))?;
    }
    std::thread::spawn(move || debounce_loop(&filter, &events, &changed));
    Ok(FileWatch { _watcher: watcher })
}

/// Collects the changes per service and reports each once it has been quiet long enough.
fn debounce_loop(
    filter: &Filter,
    events: &mpsc::Receiver<notify::Result<notify::Event>>,
    changed: &dyn Fn(usize, String),
) {
    // Per service: the first path that changed, and when the last change came.
    let mut pending: BTreeMap<usize, (String, Instant)> = BTreeMap::new();
    loop {
        let now = Instant::now();
        let next_due = pending
            .iter()
            .map(|(index, (_, last))| *last + filter.debounce(*index))
            .min();
        let received = match next_due {
            Some(due) => events.recv_timeout(due.saturating_duration_since(now)),
            None => events
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(Ok(event)) if !matches!(event.kind, EventKind::Access(_)) => {
                for path in &event.paths {
                    let Some((relative, services)) = filter.services_of(path) else {
                        continue;
                    };
                    let now = Instant::now();
                    for index in services {
                        pending
                            .entry(index)
                            .and_modify(|entry| entry.1 = now)
                            .or_insert_with(|| (relative.clone(), now));
                    }
                }
            }
            Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        let due: Vec<usize> = pending
            .iter()
            .filter(|(index, (_, last))| *last + filter.debounce(**index) <= now)
            .map(|(index, _)| *index)
            .collect();
        for index in due {
            if let Some((path, _)) = pending.remove(&index) {
                changed(index, path);
            }
        }
    }
}

/// Starts the file watcher for `services` (the stack's, in the loop's order) that have `watch`,
/// reporting changes as [`Event::FileChanged`]; says what it watches, or why it cannot.
pub(super) fn watch_stack(
    stack: &Stack,
    state: &StateDir,
    services: &[&Service],
    reply: &Reply,
    printer: &mut Printer,
) -> Option<FileWatch> {
    let targets: Vec<(usize, Watch)> = services
        .iter()
        .enumerate()
        .filter_map(|(index, spec)| Some((index, spec.watch.clone()?)))
        .collect();
    if targets.is_empty() {
        return None;
    }
    let names: Vec<&str> = targets
        .iter()
        .map(|(index, _)| services[*index].name.as_str())
        .collect();
    let reply = reply.clone();
    let changed = move |index, path| reply.send(Event::FileChanged(index, path));
    let dirs = vec![state.run_dir(), state.log_dir()];
    match start(&stack.root, dirs, targets, changed) {
        Ok(watching) => {
            printer.event(&format!("watching files of {}", names.join(", ")));
            Some(watching)
        }
        Err(e) => {
            printer.event(&format!(
                "warning: cannot watch files ({e}); restart on change is off"
            ));
            None
        }
    }
}

/// Stops `services` (index, spec, port) for a restart on change on a thread of its own, then
/// reports [`Event::RestartStopped`] with what [`stop_for_restart`] noted.
pub(super) fn spawn_restart(
    ctx: &Arc<Ctx>,
    reply: &Reply,
    services: Vec<(usize, Service, Option<u16>)>,
) {
    let (ctx, reply) = (ctx.clone(), reply.clone());
    std::thread::spawn(move || {
        let indices = services.iter().map(|(index, ..)| *index).collect();
        let specs: Vec<(Service, Option<u16>)> = services
            .into_iter()
            .map(|(_, spec, port)| (spec, port))
            .collect();
        let notes = stop_for_restart(&ctx, &specs);
        reply.send(Event::RestartStopped(indices, notes));
    });
}

/// Stops `services` (each with the port it had) one by one in the order given (dependents
/// first), then waits until each port is free again, at most the service's stop timeout. Returns
/// what was stopped and each port that stayed busy, in words.
fn stop_for_restart(ctx: &Ctx, services: &[(Service, Option<u16>)]) -> Vec<String> {
    let mut notes = Vec::new();
    for (spec, _) in services {
        for report in stop_names(&ctx.state, vec![spec.name.clone()], stop_options(spec)) {
            notes.push(report.summary(spec.stop_signal));
        }
    }
    for (spec, port) in services {
        let Some(port) = *port else { continue };
        // A bind check is two syscalls; the full lookup scans every process's descriptors, so
        // it runs once, to name the holders, only if the port stays busy.
        let deadline = Instant::now() + spec.stop_timeout;
        while !ports::bind_check(port).reuse_addr && Instant::now() < deadline {
            std::thread::sleep(PORT_POLL);
        }
        if ports::bind_check(port).reuse_addr {
            continue;
        }
        if let Ok(report) = ports::lookup(port, &ctx.state) {
            if report.held {
                notes.push(format!(
                    "port {port} of {} is still held by {}",
                    spec.name,
                    holders_of(&report)
                ));
            }
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_are_the_literal_part_of_each_glob() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src/app")).unwrap();
        let roots = watch_roots(root, &["src/**/*.py".into(), "pyproject.toml".into()]);
        let expected: BTreeMap<PathBuf, RecursiveMode> = [
            (root.to_path_buf(), RecursiveMode::NonRecursive),
            (root.join("src"), RecursiveMode::Recursive),
        ]
        .into();
        assert_eq!(roots, expected);
        // A directory that does not exist yet is watched through its nearest parent, here the
        // root, recursively, which covers `src` too.
        let roots = watch_roots(root, &["src/app/*.py".into(), "missing/dir/*.js".into()]);
        let expected: BTreeMap<PathBuf, RecursiveMode> =
            [(root.to_path_buf(), RecursiveMode::Recursive)].into();
        assert_eq!(roots, expected);
    }
}
