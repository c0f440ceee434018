//! Progress bars for people: shown on stderr only when it is a terminal, only once the work has
//! taken half a second (a quick load draws nothing), never under `--quiet` or `--json`.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tensorport::checkpoint::Progress;

static QUIET: AtomicBool = AtomicBool::new(false);

/// How long work runs before its bar appears.
const DELAY: Duration = Duration::from_millis(500);

/// Silences every bar and note (`--quiet`, and `--json`, whose stdout is for machines).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether notes and bars are silenced.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// A bar over bytes, drawn once [`DELAY`] has passed.
#[derive(Clone)]
pub struct Bar {
    bar: Option<ProgressBar>,
    start: Instant,
    shown: Arc<AtomicBool>,
}

impl Bar {
    /// A bar labelled `what` (e.g. `loading model.pt`); inert when bars are off.
    pub fn bytes(what: &str) -> Bar {
        let on = !quiet() && std::io::stderr().is_terminal();
        let bar = on.then(|| {
            let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
            if let Ok(style) = ProgressStyle::with_template(
                "{msg} [{bar:32}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            ) {
                b.set_style(style.progress_chars("=> "));
            }
            b.set_message(what.to_string());
            b
        });
        Bar {
            bar,
            start: Instant::now(),
            shown: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Moves the bar to `done` of `total` bytes.
    pub fn set(&self, done: u64, total: u64) {
        let Some(b) = &self.bar else {
            return;
        };
        b.set_length(total);
        b.set_position(done);
        if !self.shown.load(Ordering::Relaxed) && self.start.elapsed() >= DELAY {
            self.shown.store(true, Ordering::Relaxed);
            b.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    /// The callback the library's readers and writers take.
    pub fn callback(&self) -> Option<Progress> {
        let me = self.clone();
        self.bar
            .as_ref()
            .map(|_| Arc::new(move |done, total| me.set(done, total)) as Progress)
    }

    /// Removes the bar (the command's own output follows).
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// A spinner for work with no byte count (running a model), drawn once [`DELAY`] has passed.
pub struct Spinner {
    bar: Option<ProgressBar>,
    done: Arc<AtomicBool>,
}

impl Spinner {
    /// Starts a spinner labelled `what`.
    pub fn start(what: &str) -> Spinner {
        let done = Arc::new(AtomicBool::new(false));
        if quiet() || !std::io::stderr().is_terminal() {
            return Spinner { bar: None, done };
        }
        let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            b.set_style(style);
        }
        b.set_message(what.to_string());
        let (bar, flag) = (b.clone(), done.clone());
        std::thread::spawn(move || {
            std::thread::sleep(DELAY);
            if !flag.load(Ordering::Relaxed) {
                bar.set_draw_target(ProgressDrawTarget::stderr());
                bar.enable_steady_tick(Duration::from_millis(100));
            }
        });
        Spinner { bar: Some(b), done }
    }

    /// Stops and removes the spinner.
    pub fn finish(self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}
