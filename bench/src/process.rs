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

/// A memory cgroup holding the operator under a limit, as a container's would: if the operator
/// needs more, the kernel kills it and the benchmark fails. cgroup v1 (`memory` controller) or
/// v2, whichever this machine mounts writable.
pub struct MemoryLimit {
    dir: std::path::PathBuf,
    v2: bool,
    pub bytes: u64,
}

impl MemoryLimit {
    pub fn new(bytes: u64) -> anyhow::Result<Self> {
        use anyhow::Context;
        let name = format!("aso-bench-{}", std::process::id());
        let v1 = std::path::Path::new("/sys/fs/cgroup/memory");
        let (dir, v2) = if v1.join("memory.limit_in_bytes").exists() {
            (v1.join(name), false)
        } else {
            (std::path::Path::new("/sys/fs/cgroup").join(name), true)
        };
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the memory cgroup {}", dir.display()))?;
        let limit = Self { dir, v2, bytes };
        if v2 {
            limit.write("memory.max", &bytes.to_string())?;
        } else {
            limit.write("memory.limit_in_bytes", &bytes.to_string())?;
            // What the operator allocated before it was moved in (milliseconds after its start)
            // counts too, where the kernel still supports moving charges.
            let _ = limit.write("memory.move_charge_at_immigrate", "3");
        }
        Ok(limit)
    }

    fn write(&self, file: &str, value: &str) -> anyhow::Result<()> {
        use anyhow::Context;
        std::fs::write(self.dir.join(file), value)
            .with_context(|| format!("cannot write {value} to {}", self.dir.join(file).display()))
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join(file)).unwrap_or_default()
    }

    pub fn add(&self, pid: u32) -> anyhow::Result<()> {
        self.write("cgroup.procs", &pid.to_string())
    }

    /// The most the cgroup was charged (anonymous memory and the page cache it brought in).
    pub fn peak_bytes(&self) -> u64 {
        let file = if self.v2 {
            "memory.peak"
        } else {
            "memory.max_usage_in_bytes"
        };
        self.read(file).trim().parse().unwrap_or(0)
    }

    /// How many processes the kernel killed for exceeding the limit.
    pub fn oom_kills(&self) -> u64 {
        let file = if self.v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        self.read(file)
            .lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for MemoryLimit {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}
