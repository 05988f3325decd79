//! Profiles: `profiles = ["test"]` on a service keeps it out of the stack unless `reaper up
//! --profile test` (or `ps --profile test`) activates one of its profiles, the service is named on
//! the command line, or a service that runs depends on it. Services without profiles always run.

use super::Stack;

impl Stack {
    /// Keeps the services that run with the `active` profiles when `requested` services are
    /// asked for: those without profiles, those with an active profile, those requested (by name
    /// or as copies of a replicated service), and, transitively, what they depend on. A profile
    /// that no service declares is an error (with the profiles there are).
    pub fn with_profiles(&mut self, active: &[String], requested: &[String]) -> Result<(), String> {
        let mut declared: Vec<&str> = self
            .services
            .iter()
            .flat_map(|s| s.profiles.iter().map(String::as_str))
            .collect();
        declared.sort_unstable();
        declared.dedup();
        for profile in active {
            if !declared.contains(&profile.as_str()) {
                let hint = match super::closest(profile, declared.iter().copied()) {
                    Some(near) => format!(" (did you mean `{near}`?)"),
                    None => String::new(),
                };
                return Err(if declared.is_empty() {
                    format!("no service has profile `{profile}`: the stack declares no profiles")
                } else {
                    format!(
                        "no service has profile `{profile}`{hint}; profiles: {}",
                        declared.join(", ")
                    )
                });
            }
        }
        let mut kept: Vec<String> = self
            .services
            .iter()
            .filter(|s| {
                s.profiles.is_empty()
                    || s.profiles.iter().any(|p| active.contains(p))
                    || requested
                        .iter()
                        .any(|r| *r == s.name || s.replica_of.as_deref() == Some(r.as_str()))
            })
            .map(|s| s.name.clone())
            .collect();
        let mut pending = kept.clone();
        while let Some(name) = pending.pop() {
            for dep in self
                .service(&name)
                .map(|s| s.depends_on.clone())
                .unwrap_or_default()
            {
                if !kept.contains(&dep) {
                    kept.push(dep.clone());
                    pending.push(dep);
                }
            }
        }
        self.services.retain(|s| kept.contains(&s.name));
        Ok(())
    }
}
