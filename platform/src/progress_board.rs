//! What `serve` shows of each device's OTA: a progress bar per device and job (indicatif) on a
//! terminal, plain lines (versions, pushes, every 10 %, failures) otherwise.

use std::collections::HashMap;

use aiot_platform::ota::{DeviceKey, OtaEvent};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// One device event as a line of text.
pub(crate) fn describe(ev: &OtaEvent) -> String {
    match ev {
        OtaEvent::Version { version, module } => match module {
            Some(m) => format!("version {version} (module {m})"),
            None => format!("version {version}"),
        },
        OtaEvent::Progress { step, desc, module } => {
            let mut s = format!("progress {step}");
            if !desc.is_empty() {
                s += &format!(" ({desc})");
            }
            if let Some(m) = module {
                s += &format!(" (module {m})");
            }
            s
        }
        OtaEvent::Query { .. } => "firmware/get query".into(),
        OtaEvent::ConfigGet => "config/get query".into(),
        OtaEvent::Pushed {
            version,
            reply: false,
        } => format!("platform pushed {version}"),
        OtaEvent::Pushed { version, reply: true } => format!("platform answered the query with {version}"),
    }
}

/// What upstream's OTA demos mean by a negative progress step.
pub(crate) fn failure_name(step: i64) -> &'static str {
    match step {
        -1 => "upgrade failed",
        -2 => "download failed",
        -3 => "verification failed",
        -4 => "flash failed",
        _ => "failed",
    }
}

/// Where `serve` writes: progress bars on stderr when it is a terminal, plain lines otherwise.
#[derive(Clone)]
pub(crate) struct Out {
    multi: MultiProgress,
    /// stderr is not a terminal: no bars (indicatif hides them), a plain line per 10 %.
    plain: bool,
}

impl Out {
    pub(crate) fn stderr() -> Out {
        let multi = MultiProgress::new();
        let plain = multi.is_hidden();
        Out { multi, plain }
    }

    /// A line on stderr (above the bars when they show).
    pub(crate) fn line(&self, text: &str) {
        if self.plain {
            eprintln!("{text}");
        } else {
            let _ = self.multi.println(text);
        }
    }
}

/// A device's current job on the board.
pub(crate) struct Track {
    bar: ProgressBar,
    /// "PK/DN -> VERSION".
    label: String,
    version: String,
    /// The last tenth (step / 10) printed as a plain line.
    printed: Option<i64>,
    /// Reached 100 or failed.
    done: bool,
}

/// `serve`'s view of the devices: one progress bar per device and job (position = the reported
/// step), and plain lines for everything else.
pub(crate) struct Board {
    out: Out,
    tracks: HashMap<DeviceKey, Track>,
}

impl Board {
    pub(crate) fn new(out: Out) -> Board {
        Board {
            out,
            tracks: HashMap::new(),
        }
    }

    /// Shows `ev`.
    pub(crate) fn show(&mut self, key: &DeviceKey, ev: &OtaEvent) {
        for line in self.on_event(key, ev) {
            self.out.line(&line);
        }
    }

    /// Updates the bars for `ev` and returns the lines to print.
    fn on_event(&mut self, key: &DeviceKey, ev: &OtaEvent) -> Vec<String> {
        let who = format!("{}/{}", key.0, key.1);
        let mut lines = Vec::new();
        let step = match ev {
            OtaEvent::Progress { step, .. } if (-100..=100).contains(step) => *step,
            OtaEvent::Pushed { version, .. } => {
                lines.push(format!("{who}  {}", describe(ev)));
                let same = self
                    .tracks
                    .get(key)
                    .is_some_and(|t| !t.done && t.version == *version);
                if !same {
                    self.start(key, version, &mut lines);
                }
                return lines;
            }
            OtaEvent::Progress { .. } => {
                lines.push(format!(
                    "{who}  {} (not a step: 0..100, or -1..-4 for a failure)",
                    describe(ev)
                ));
                return lines;
            }
            _ => {
                lines.push(format!("{who}  {}", describe(ev)));
                return lines;
            }
        };
        let desc = match ev {
            OtaEvent::Progress { desc, .. } if !desc.is_empty() => format!(": {desc}"),
            _ => String::new(),
        };
        if self.tracks.get(key).is_none_or(|t| t.done) {
            // A job pushed before this `serve` started, or progress again after the end (a retry).
            let version = self
                .tracks
                .get(key)
                .map(|t| t.version.clone())
                .unwrap_or_else(|| "?".into());
            if step < 0 {
                lines.push(format!(
                    "{who} -> {version}: {} (step {step}){desc}",
                    failure_name(step)
                ));
                return lines;
            }
            self.start(key, &version, &mut lines);
        }
        let plain = self.out.plain;
        let t = self.tracks.get_mut(key).expect("started above");
        if step < 0 {
            let text = format!("{}: {} (step {step}){desc}", t.label, failure_name(step));
            t.done = true;
            t.bar.abandon_with_message(text.clone());
            if plain {
                lines.push(text);
            }
            return lines;
        }
        t.bar.set_position(step as u64);
        if step == 100 {
            t.done = true;
            t.bar.finish_with_message(format!("{}: done", t.label));
        }
        let tenth = step / 10;
        if plain && t.printed != Some(tenth) {
            t.printed = Some(tenth);
            let end = if step == 100 { " done" } else { "" };
            lines.push(format!("{}  {step:>3}%{end}{desc}", t.label));
        }
        lines
    }

    /// A new bar for `key`'s job to `version`, in place of the one before.
    fn start(&mut self, key: &DeviceKey, version: &str, lines: &mut Vec<String>) {
        if let Some(old) = self.tracks.remove(key) {
            if !old.done {
                let text = format!(
                    "{}: replaced at {}% by the job to {version}",
                    old.label,
                    old.bar.position()
                );
                old.bar.abandon_with_message(text.clone());
                lines.push(text);
            } else if !self.out.plain {
                // Its outcome stays in the scroll-back.
                lines.push(format!("[{:>3}%] {}", old.bar.position(), old.bar.message()));
            }
            self.out.multi.remove(&old.bar);
        }
        let label = format!("{}/{} -> {version}", key.0, key.1);
        let style = ProgressStyle::with_template("[{bar:30}] {pos:>3}%  {msg}")
            .expect("a valid template")
            .progress_chars("#>-");
        let bar = self.out.multi.add(
            ProgressBar::new(100)
                .with_style(style)
                .with_message(label.clone()),
        );
        self.tracks.insert(
            key.clone(),
            Track {
                bar,
                label,
                version: version.to_owned(),
                printed: None,
                done: false,
            },
        );
    }

    /// Leaves the unfinished bars on screen as they are (serve is stopping).
    pub(crate) fn close(&mut self) {
        for t in self.tracks.values().filter(|t| !t.done) {
            t.bar.abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indicatif::ProgressDrawTarget;

    fn board(plain: bool) -> Board {
        Board::new(Out {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::hidden()),
            plain,
        })
    }

    fn key() -> DeviceKey {
        ("a1TestPK001".into(), "device1".into())
    }

    fn progress(step: i64) -> OtaEvent {
        OtaEvent::Progress {
            step,
            desc: String::new(),
            module: None,
        }
    }

    fn pushed(version: &str) -> OtaEvent {
        OtaEvent::Pushed {
            version: version.into(),
            reply: false,
        }
    }

    #[test]
    fn board_plain_lines_per_tenth() {
        let mut b = board(true);
        let lines = b.on_event(&key(), &pushed("1.1.0"));
        assert_eq!(lines, ["a1TestPK001/device1  platform pushed 1.1.0"]);
        let mut lines = Vec::new();
        for step in (0..=100).step_by(2) {
            lines.extend(b.on_event(&key(), &progress(step)));
        }
        assert_eq!(lines.len(), 11, "{lines:#?}");
        assert_eq!(lines[0], "a1TestPK001/device1 -> 1.1.0    0%");
        assert_eq!(lines[4], "a1TestPK001/device1 -> 1.1.0   40%");
        assert_eq!(lines[10], "a1TestPK001/device1 -> 1.1.0  100% done");
        let t = &b.tracks[&key()];
        assert!(t.done && t.bar.is_finished());
        assert_eq!(t.bar.position(), 100);
        assert!(t.bar.message().ends_with(": done"));

        // A new job, failing at 30 %: one line naming the failure.
        b.on_event(&key(), &pushed("1.2.0"));
        b.on_event(&key(), &progress(30));
        let lines = b.on_event(&key(), &progress(-2));
        assert_eq!(lines, ["a1TestPK001/device1 -> 1.2.0: download failed (step -2)"]);
        let t = &b.tracks[&key()];
        assert!(t.done && t.bar.is_finished());
        assert_eq!(t.bar.position(), 30);
        // Another failure report after the end: still a line.
        let lines = b.on_event(&key(), &progress(-1));
        assert_eq!(lines, ["a1TestPK001/device1 -> 1.2.0: upgrade failed (step -1)"]);
        let ev = OtaEvent::Progress {
            step: -3,
            desc: "digest mismatch".into(),
            module: None,
        };
        assert_eq!(
            b.on_event(&key(), &ev),
            ["a1TestPK001/device1 -> 1.2.0: verification failed (step -3): digest mismatch"]
        );
        // Unexpected steps and other events are lines too.
        assert!(b.on_event(&key(), &progress(i64::MIN))[0].contains("not a step"));
        let v = OtaEvent::Version {
            version: "1.0.0".into(),
            module: None,
        };
        assert_eq!(b.on_event(&key(), &v), ["a1TestPK001/device1  version 1.0.0"]);
    }

    #[test]
    fn board_bars_per_device_and_job() {
        let mut b = board(false);
        let other: DeviceKey = ("a1TestPK001".into(), "device2".into());
        b.on_event(&key(), &pushed("1.1.0"));
        b.on_event(&other, &pushed("1.1.0"));
        // With bars, progress prints nothing.
        assert!(b.on_event(&key(), &progress(0)).is_empty());
        assert!(b.on_event(&key(), &progress(55)).is_empty());
        assert!(b.on_event(&other, &progress(10)).is_empty());
        assert_eq!(b.tracks[&key()].bar.position(), 55);
        assert_eq!(b.tracks[&other].bar.position(), 10);
        assert_eq!(b.tracks[&key()].bar.message(), "a1TestPK001/device1 -> 1.1.0");
        for (step, name) in [
            (-1, "upgrade failed"),
            (-2, "download failed"),
            (-3, "verification failed"),
            (-4, "flash failed"),
        ] {
            b.on_event(&other, &pushed(&format!("2.0.{}", -step)));
            b.on_event(&other, &progress(20));
            assert!(b.on_event(&other, &progress(step)).is_empty());
            let t = &b.tracks[&other];
            assert!(t.done && t.bar.is_finished());
            assert_eq!(
                t.bar.message(),
                format!("a1TestPK001/device2 -> 2.0.{}: {name} (step {step})", -step)
            );
        }
        // A repeated push of the same job keeps the bar; progress without a push gets one.
        b.on_event(&key(), &pushed("1.1.0"));
        assert_eq!(b.tracks[&key()].bar.position(), 55);
        b.on_event(&key(), &progress(100));
        assert!(b.tracks[&key()].bar.is_finished());
        let third: DeviceKey = ("pk".into(), "dn".into());
        b.on_event(&third, &progress(40));
        assert_eq!(b.tracks[&third].bar.message(), "pk/dn -> ?");
        // A new job replacing an unfinished one says so.
        let lines = b.on_event(&third, &pushed("9"));
        assert_eq!(lines[1], "pk/dn -> ?: replaced at 40% by the job to 9");
        assert_eq!(b.tracks[&third].bar.position(), 0);
    }
}
