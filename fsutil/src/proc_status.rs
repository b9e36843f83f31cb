//! Memory figures of a running process from Linux's `/proc/PID/status`, for benchmarks.

/// A `kB` field of `/proc/PID/status` (e.g. `VmRSS`, the resident set now, or `VmHWM`, its
/// high-water mark), in KiB; `None` when the process is gone or the field is missing.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_kib(&status, field)
}

fn parse_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_field_in_kib() {
        let status = "Name:\tsluice\nVmHWM:\t   12345 kB\nVmRSS:\t    2048 kB\n";
        assert_eq!(parse_kib(status, "VmHWM"), Some(12_345));
        assert_eq!(parse_kib(status, "VmRSS"), Some(2_048));
        assert_eq!(parse_kib(status, "VmSwap"), None);
        assert_eq!(
            parse_kib(status, "Vm"),
            None,
            "a prefix of a field is not the field"
        );
    }

    #[test]
    fn this_process_has_a_resident_set() {
        assert!(status_kib(std::process::id(), "VmRSS").unwrap() > 0);
    }
}
