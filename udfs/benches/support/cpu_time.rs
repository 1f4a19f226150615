//! Throughput per CPU-second of the calling thread (from `/proc/thread-self/schedstat`), so
//! that "per core" numbers stay meaningful on a machine shared with other work, where
//! criterion's wall-clock numbers are inflated by waiting for a core.

use std::time::Instant;

/// Nanoseconds this thread has spent on a CPU, if the kernel exposes it.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Runs `f` (which processes `items` items) for at least `seconds` of CPU time and prints
/// items per CPU-second and per wall-second.
pub(crate) fn report(name: &str, items: u64, unit: &str, seconds: f64, mut f: impl FnMut()) {
    let (Some(c0), w0) = (thread_cpu_ns(), Instant::now()) else {
        println!("{name}: /proc/thread-self/schedstat unavailable");
        return;
    };
    let mut runs = 0u64;
    loop {
        f();
        runs += 1;
        let cpu = (thread_cpu_ns().unwrap_or(c0) - c0) as f64 * 1e-9;
        if cpu >= seconds {
            let wall = w0.elapsed().as_secs_f64();
            let n = (runs * items) as f64;
            println!(
                "{name}: {:.0} {unit}/CPU-s ({:.0} {unit}/wall-s; {runs} runs, {cpu:.2} CPU-s, {wall:.2} wall-s)",
                n / cpu,
                n / wall
            );
            return;
        }
    }
}
