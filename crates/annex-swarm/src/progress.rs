//! Progress bars on stderr (indicatif hides them when stderr is not a terminal): one for the
//! operation, and during a get one line per store with its bytes and speed.

use std::collections::HashMap;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use swarm_engine::progress::{Event, Observer};

pub struct Bar {
    multi: MultiProgress,
    bar: ProgressBar,
    stores: Mutex<HashMap<String, ProgressBar>>,
}

impl Bar {
    pub fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let bar = multi.add(ProgressBar::new(0));
        Bar {
            multi,
            bar,
            stores: Mutex::new(HashMap::new()),
        }
    }

    fn store_line(&self, store: &str) -> ProgressBar {
        let mut lines = self.stores.lock().unwrap_or_else(|e| e.into_inner());
        lines
            .entry(store.to_owned())
            .or_insert_with(|| {
                let line = self.multi.add(ProgressBar::new(0));
                if let Ok(style) = ProgressStyle::with_template(
                    "{prefix:>14} {bytes:>10} {bytes_per_sec:>12} {msg}",
                ) {
                    line.set_style(style);
                }
                line.set_prefix(store.to_owned());
                line
            })
            .clone()
    }
}

impl Observer for Bar {
    fn event(&self, event: Event) {
        match event {
            Event::Started { op, total } => {
                self.bar.set_length(total);
                self.bar.set_position(0);
                let template = if op == "put" || op == "get" {
                    "{prefix:>6} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
                } else {
                    "{prefix:>6} [{bar:30}] {pos}/{len} keys"
                };
                if let Ok(style) = ProgressStyle::with_template(template) {
                    self.bar.set_style(style.progress_chars("=> "));
                }
                self.bar.set_prefix(op);
            }
            Event::Advanced(n) => self.bar.inc(n),
            Event::StoreBytes { store, bytes } => self.store_line(store.as_str()).inc(bytes),
            Event::StoreDropped { store, why } => self
                .store_line(store.as_str())
                .set_message(format!("dropped: {why}")),
            Event::Finished => {
                let lines = self.stores.lock().unwrap_or_else(|e| e.into_inner());
                for line in lines.values() {
                    line.finish_and_clear();
                }
                self.bar.finish_and_clear();
            }
        }
    }
}
