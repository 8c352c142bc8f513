//! Progress of long work: a bar on stderr when stderr is a terminal, plain
//! lines there otherwise (a log, CI), and never anything on stdout, which
//! carries the command's output (tables, CSV, JSON). Work that ends within
//! [`QUIET`] prints no plain line at all.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long work runs before plain lines start.
const QUIET: Duration = Duration::from_secs(2);

/// One piece of long work, `total` steps of `unit`.
pub struct Progress {
    bar: Option<ProgressBar>,
    what: String,
    total: AtomicU64,
    unit: String,
    started: Instant,
    /// Plain mode: the last message printed, so a line is printed only when
    /// the message changes.
    printed: Mutex<String>,
}

impl Progress {
    /// A bar on a terminal, plain lines elsewhere; `what` names the work.
    pub fn new(what: &str, total: u64, unit: &str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let template =
                format!("{what} [{{bar:30}}] {{pos}}/{{len}} {unit} {{msg}} ({{elapsed}})");
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Progress {
            bar,
            what: what.to_owned(),
            total: AtomicU64::new(total),
            unit: unit.to_owned(),
            started: Instant::now(),
            printed: Mutex::new(String::new()),
        }
    }

    /// The total, once known (a bar made before the work was counted).
    pub fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
    }

    /// `done` steps so far; `message` says where the work is. In plain
    /// mode a line (with `done`) is printed each time `message` changes.
    pub fn set(&self, done: u64, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            bar.set_message(message.to_owned());
            return;
        }
        if self.started.elapsed() < QUIET {
            return;
        }
        let mut printed = match self.printed.lock() {
            Ok(printed) => printed,
            Err(poisoned) => poisoned.into_inner(),
        };
        if *printed != message {
            eprintln!(
                "{}: {message} ({done}/{} {})",
                self.what,
                self.total.load(Ordering::Relaxed),
                self.unit
            );
            message.clone_into(&mut printed);
        }
    }

    /// Removes the bar (the command's own output follows).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
