//! Peak memory and CPU time of the operator process, read from /proc.

use std::time::Duration;

#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub rss_bytes: u64,
    /// The heap and stacks: RSS without the file-backed (and reclaimable) pages of the binary.
    pub anon_bytes: u64,
    pub cpu_seconds: f64,
}

fn kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

pub fn sample(pid: u32) -> Option<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = kib(&status, "VmRSS:")?;
    let anon_kib = kib(&status, "RssAnon:")?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name: utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let hz = 100.0; // USER_HZ on Linux
    Some(Sample {
        rss_bytes: rss_kib * 1024,
        anon_bytes: anon_kib * 1024,
        cpu_seconds: ticks as f64 / hz,
    })
}

/// Samples `pid` every 100 ms until told to stop; returns the peak RSS and anonymous RSS seen.
pub async fn peak_rss(pid: u32, mut stop: tokio::sync::oneshot::Receiver<()>) -> (u64, u64) {
    let mut peak = (0, 0);
    loop {
        if let Some(s) = sample(pid) {
            peak = (peak.0.max(s.rss_bytes), peak.1.max(s.anon_bytes));
        }
        tokio::select! {
            _ = &mut stop => return peak,
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}
