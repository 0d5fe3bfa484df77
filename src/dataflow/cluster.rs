//! Workers, processes and hosts → timely's configuration, built here so that timely's own
//! argument parser never sees our command line.

/// How many workers run where.
#[derive(Clone, Debug)]
pub struct Cluster {
    /// Worker threads per process.
    pub workers: usize,
    /// Number of processes.
    pub processes: usize,
    /// This process's index.
    pub process: usize,
    /// `host:port` of every process, in process order (only with several processes).
    pub hosts: Vec<String>,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            workers: 1,
            processes: 1,
            process: 0,
            hosts: Vec::new(),
        }
    }
}

/// Most worker threads in one process (`--workers 2^64−1` once panicked allocating, and a
/// few thousand took minutes to start).
pub const MAX_WORKERS: usize = 512;

impl Cluster {
    /// Checks the shape and builds timely's configuration.
    pub fn timely_config(&self) -> Result<timely::Config, String> {
        if self.workers == 0 {
            return Err("--workers must be at least 1".into());
        }
        if self.workers > MAX_WORKERS {
            return Err(format!(
                "--workers {} is more than {MAX_WORKERS} threads in one process; for more, run \
                 several processes (--processes)",
                self.workers
            ));
        }
        if self.process >= self.processes {
            return Err(format!(
                "--process {} is out of range for --processes {}",
                self.process, self.processes
            ));
        }
        let communication = if self.processes > 1 {
            if self.hosts.len() != self.processes {
                return Err(format!(
                    "--hosts lists {} addresses for --processes {}",
                    self.hosts.len(),
                    self.processes
                ));
            }
            timely::CommunicationConfig::Cluster {
                threads: self.workers,
                process: self.process,
                addresses: self.hosts.clone(),
                report: false,
                zerocopy: false,
            }
        } else if self.workers > 1 {
            timely::CommunicationConfig::Process(self.workers)
        } else {
            timely::CommunicationConfig::Thread
        };
        Ok(timely::Config {
            communication,
            worker: timely::WorkerConfig::default(),
        })
    }

    /// Reads a hosts file: one `host:port` per line; blank lines and `#` comments ignored.
    pub fn read_hosts(path: &std::path::Path) -> Result<Vec<String>, String> {
        let text = crate::smallfile::read(path, "hosts file")?;
        Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect())
    }
}
