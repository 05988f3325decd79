//! In `reaper up`'s output a service's own lines come before what reaper says of them: the line
//! that made a service ready is printed before "is ready".
#![cfg(target_os = "linux")]

mod common;
mod stack_common;

use common::Sandbox;
use stack_common::{Up, write_config};

/// The indices of the lines that contain `needle`, in order.
fn positions(lines: &[String], needle: &str) -> Vec<usize> {
    (0..lines.len())
        .filter(|&i| lines[i].contains(needle))
        .collect()
}

#[test]
fn the_line_that_made_a_service_ready_is_printed_before_is_ready() {
    // Several services, so that any one of them racing the supervisor's next pass shows.
    const SERVICES: usize = 8;
    let sandbox = Sandbox::new();
    let config: String = (1..=SERVICES)
        .map(|i| {
            format!(
                "[services.s{i}]\ncommand = \"echo s{i}: up; exec sleep 1000\"\nready = {{ log = \"s{i}: up\" }}\n\n"
            )
        })
        .collect();
    write_config(&sandbox, &config);
    let mut up = Up::start(&sandbox, &[]);
    up.wait_for(&format!("all {SERVICES} services are ready"));
    sandbox.note_tree();
    let lines = up.output();
    for i in 1..=SERVICES {
        let said = positions(&lines, &format!("| s{i}: up"));
        let ready = positions(&lines, &format!("s{i} is ready"));
        assert!(
            !said.is_empty() && said[0] < ready[0],
            "s{i}'s line should come first:\n{}",
            lines.join("\n")
        );
    }
    up.interrupt();
    assert_eq!(up.wait().code(), Some(0), "{}", up.text());
    sandbox.assert_nothing_left();
}
