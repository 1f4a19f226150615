//! Throughput per CPU-second of the calling thread (from `/proc/thread-self/schedstat`), so
//! that "per core" numbers stay meaningful on a machine shared with other work, where
//! criterion's wall-clock numbers are inflated by waiting for a core.

use std::time::Instant;

/// Nanoseconds this thread has spent on a CPU, if the kernel exposes it.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// CPU seconds used by the whole process (all threads), from `/proc/self/stat` (clock ticks
/// of 1/100 s).
fn process_cpu_s() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the ")" that closes the command name; utime and stime are 14 and 15.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Like [`report`], with the CPU time of the whole process (for work spread over threads);
/// also prints MB per CPU-second for `bytes` per run.
#[allow(dead_code)] // reason: used by some of the benches that include this module
pub(crate) fn report_process(
    name: &str,
    items: u64,
    bytes: u64,
    unit: &str,
    seconds: f64,
    mut f: impl FnMut(),
) {
    let (Some(c0), w0) = (process_cpu_s(), Instant::now()) else {
        println!("{name}: /proc/self/stat unavailable");
        return;
    };
    let mut runs = 0u64;
    loop {
        f();
        runs += 1;
        let cpu = process_cpu_s().unwrap_or(c0) - c0;
        if cpu >= seconds {
            let wall = w0.elapsed().as_secs_f64();
            let n = (runs * items) as f64;
            let mb = (runs * bytes) as f64 / 1e6;
            println!(
                "{name}: {:.0} {unit}/CPU-s, {:.1} MB/CPU-s ({:.0} {unit}/wall-s, {:.1} MB/wall-s; {runs} runs, {cpu:.2} CPU-s, {wall:.2} wall-s)",
                n / cpu,
                mb / cpu,
                n / wall,
                mb / wall
            );
            return;
        }
    }
}

/// Runs `f` (which processes `items` items) for at least `seconds` of CPU time and prints
/// items per CPU-second and per wall-second.
#[allow(dead_code)] // reason: used by some of the benches that include this module
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
