//! Small helpers: loopback-only address parsing, the shared clock, /proc
//! readers, percentiles and a cheap scan of a message's top-level `type` and
//! `version`.

use std::net::{Ipv4Addr, SocketAddr};

/// Nanoseconds on CLOCK_MONOTONIC: one clock for every process on the
/// machine, so a worker's receipt time and the parent's "before the API
/// call" time can be subtracted.
pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `http://127.0.0.1:8080[/...]` (or `ws://`, or `localhost`) to a socket
/// address; anything outside 127.0.0.0/8 (or ::1) is refused.
pub fn loopback_addr(url: &str) -> Result<SocketAddr, String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("ws://"))
        .unwrap_or(url);
    let host_port = rest.split('/').next().unwrap_or("");
    let host_port = host_port.replace("localhost", "127.0.0.1");
    let addr: SocketAddr = host_port
        .parse()
        .map_err(|_| format!("`{url}`: expected http://IP:PORT with a literal loopback IP"))?;
    if !addr.ip().is_loopback() {
        return Err(format!("`{url}`: only loopback targets (127.0.0.0/8, ::1) are allowed"));
    }
    Ok(addr)
}

/// `127.0.0.2-127.0.0.9` or `127.0.0.2,127.0.0.5`: loopback only, at most 254.
pub fn source_ips(spec: &str) -> Result<Vec<Ipv4Addr>, String> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let a: Ipv4Addr = a.trim().parse().map_err(|_| format!("bad source IP `{a}`"))?;
        let b: Ipv4Addr = b.trim().parse().map_err(|_| format!("bad source IP `{b}`"))?;
        if !a.is_loopback() || !b.is_loopback() {
            return Err(format!("source IPs must be in 127.0.0.0/8, got `{part}`"));
        }
        let (a, b) = (u32::from(a), u32::from(b));
        if b < a || b - a > 253 {
            return Err(format!("source IP range `{part}` is empty or longer than 254"));
        }
        out.extend((a..=b).map(Ipv4Addr::from));
    }
    if out.is_empty() || out.len() > 254 {
        return Err("give between 1 and 254 source IPs".into());
    }
    Ok(out)
}

/// VmRSS of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// utime + stime of a process, in milliseconds.
pub fn cpu_ms(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the command name: state is field 3, utime field 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some((utime + stime) as f64 * 1000.0 / hz)
}

/// Nearest-rank percentile of sorted values.
pub fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    pct(&v, 50.0)
}

/// The top-level `"type"` (string) and `"version"` (integer) of a JSON
/// object, without parsing the rest: one pass over the bytes that tracks
/// nesting and strings, no allocation. Nested `version` fields (inside a
/// patch's `doc`, a snapshot's `ruleset`) are skipped whatever the key order.
pub fn scan(b: &[u8]) -> (Option<&[u8]>, Option<u64>) {
    let n = b.len();
    let (mut depth, mut i) = (0i32, 0usize);
    let (mut ty, mut ver) = (None, None);
    while i < n {
        match b[i] {
            b'{' | b'[' => {
                depth += 1;
                i += 1;
            }
            b'}' | b']' => {
                depth -= 1;
                i += 1;
            }
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < n && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                let s = &b[start..i.min(n)];
                i += 1;
                if depth != 1 {
                    continue;
                }
                let mut j = i;
                while j < n && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                if j >= n || b[j] != b':' {
                    continue; // a string value, not a key
                }
                j += 1;
                while j < n && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                if s == b"type" && j < n && b[j] == b'"' {
                    let st = j + 1;
                    let mut e = st;
                    while e < n && b[e] != b'"' {
                        e += 1;
                    }
                    ty = Some(&b[st..e.min(n)]);
                    i = e + 1;
                } else if s == b"version" {
                    let (mut v, mut e) = (0u64, j);
                    while e < n && b[e].is_ascii_digit() {
                        v = v.wrapping_mul(10).wrapping_add((b[e] - b'0') as u64);
                        e += 1;
                    }
                    if e > j {
                        ver = Some(v);
                    }
                    i = e;
                } else {
                    i = j;
                }
                if ty.is_some() && ver.is_some() {
                    break;
                }
            }
            _ => i += 1,
        }
    }
    (ty, ver)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_top_level_fields_only() {
        let patch = br#"{"doc":{"version":3,"type":"x","s":"a\"type\":\"patch"},"key":"f","kind":"flag","type":"patch","version":58}"#;
        assert_eq!(scan(patch), (Some(&b"patch"[..]), Some(58)));
        let snap = br#"{"type":"snapshot","ruleset":{"version":9,"flags":{}},"version":9}"#;
        assert_eq!(scan(snap), (Some(&b"snapshot"[..]), Some(9)));
        let welcome =
            br#"{"environment":"production","heartbeat_ms":15000,"kind":"server","protocol":1,"type":"welcome"}"#;
        assert_eq!(scan(welcome), (Some(&b"welcome"[..]), None));
    }

    #[test]
    fn only_loopback() {
        assert!(loopback_addr("http://127.0.0.1:8080").is_ok());
        assert!(loopback_addr("http://localhost:8080/x").is_ok());
        assert!(loopback_addr("http://10.0.0.1:8080").is_err());
        assert!(loopback_addr("http://example.com:80").is_err());
        assert_eq!(source_ips("127.0.0.2-127.0.0.9").unwrap().len(), 8);
        assert!(source_ips("192.168.0.1").is_err());
    }

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(pct(&v, 50.0), 50.0);
        assert_eq!(pct(&v, 99.0), 99.0);
        assert_eq!(pct(&v, 100.0), 100.0);
    }
}
