//! A cluster's processes: P proxies and the workers that serve all of them.
//!
//! [`ClusterProcesses::start`] starts every proxy with `--ready-file`, waits
//! for each to report the endpoints it listens on, then starts the workers
//! with `--proxy B1,B2,...` (every proxy's backend). With [`Ports::Any`]
//! the proxies bind `127.0.0.1:0`, so no port is picked in advance and
//! there is no race to lose; with [`Ports::From`] proxy *i* binds the
//! frontend and backend ports `base + i` (`shoplist-cloud up --proxies 2`).
//! A restarted proxy comes back on the ports it first reported.
//!
//! The cluster secret reaches every process as a file path in
//! `SHOPLIST_CLUSTER_SECRET_FILE`, never on a command line. Worker
//! liveness is the caller's business (it needs the protocol): see
//! [`ClusterProcesses::check_exits`] for process deaths.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::ready::{read_ready_file, remove_ready_file, ReadyEndpoints};
use crate::service::{Output, Service, ServiceSpec};
use crate::wait::{poll_until, Poll};
use crate::LaunchError;

/// The environment variable naming the cluster secret's file (the same
/// name `cloud::secret::SECRET_FILE_ENV` reads).
pub const SECRET_FILE_ENV: &str = "SHOPLIST_CLUSTER_SECRET_FILE";

/// Which ports the proxies bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ports {
    /// `127.0.0.1:0`: the kernel picks, the ready file tells.
    Any,
    /// Like [`Ports::Any`], but the backend binds `0.0.0.0:0`, so workers
    /// in other network namespaces reach it (see [`WorkerNetns`]).
    AnyBackendOnAllInterfaces,
    /// Proxy *i* binds `tcp://HOST:PORT+i` for both of these (proxy 0's
    /// endpoints, `tcp://HOST:PORT`).
    From {
        /// Proxy 0's client endpoint.
        frontend: String,
        /// Proxy 0's worker endpoint.
        backend: String,
    },
}

/// What to launch. See the module docs.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// The executable of every process.
    pub program: PathBuf,
    /// The arguments that make it a proxy (`["proxy"]`).
    pub proxy_command: Vec<String>,
    /// The arguments that make it a worker (`["worker"]`).
    pub worker_command: Vec<String>,
    /// Ready files go here, worker *id*'s data in `root/id`, logs in
    /// `root/logs/NAME.log` (with `log_files`).
    pub root: PathBuf,
    /// The cluster secret's file.
    pub secret_file: PathBuf,
    /// More environment for every process.
    pub env: Vec<(String, String)>,
    /// How many proxies.
    pub proxies: usize,
    /// The workers' ids, in order.
    pub worker_ids: Vec<String>,
    /// More arguments for every proxy.
    pub proxy_args: Vec<String>,
    /// More arguments for every worker.
    pub worker_args: Vec<String>,
    /// Which ports the proxies bind.
    pub ports: Ports,
    /// Output to `root/logs/NAME.log` (else inherited).
    pub log_files: bool,
    /// The signal children get if the launching thread dies.
    pub parent_death_signal: i32,
    /// How long a proxy may take to write its ready file.
    pub ready_timeout: Duration,
    /// Workers (by id) that run in another network namespace.
    pub worker_netns: BTreeMap<String, WorkerNetns>,
}

/// A worker run with `ip netns exec NETNS` (the same pid: `ip` execs it),
/// reaching the proxies' backends at `proxy_host` instead of 127.0.0.1.
/// Tests use it to cut a worker's link (DESIGN §10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerNetns {
    /// The namespace's name (`ip netns add NAME`).
    pub netns: String,
    /// The host's address as seen from inside the namespace.
    pub proxy_host: String,
}

/// One proxy: its process, ready file, and the endpoints it reported.
#[derive(Debug)]
struct Proxy {
    service: Service,
    ready_file: PathBuf,
    endpoints: Option<ReadyEndpoints>,
}

/// A running cluster's processes. Dropping it SIGKILLs and reaps them all.
#[derive(Debug)]
pub struct ClusterProcesses {
    spec: ClusterSpec,
    proxies: Vec<Proxy>,
    workers: Vec<Service>,
}

/// The name of proxy `i` of `n`: `proxy` alone, else `proxy-0`, `proxy-1`...
pub fn proxy_name(i: usize, n: usize) -> String {
    if n == 1 {
        "proxy".into()
    } else {
        format!("proxy-{i}")
    }
}

impl ClusterSpec {
    fn service(&self, name: &str, args: Vec<String>) -> Service {
        let mut env = vec![(
            SECRET_FILE_ENV.to_string(),
            self.secret_file.display().to_string(),
        )];
        env.extend(self.env.iter().cloned());
        let output = if self.log_files {
            Output::File(self.root.join("logs").join(format!("{name}.log")))
        } else {
            Output::Inherit
        };
        Service::new(ServiceSpec {
            name: name.to_string(),
            program: self.program.clone(),
            args,
            env,
            output,
            parent_death_signal: self.parent_death_signal,
        })
    }

    /// Proxy `i`'s bind endpoints before it first started.
    fn bind(&self, i: usize) -> Result<(String, String), LaunchError> {
        match &self.ports {
            Ports::Any => Ok(("tcp://127.0.0.1:0".into(), "tcp://127.0.0.1:0".into())),
            Ports::AnyBackendOnAllInterfaces => {
                Ok(("tcp://127.0.0.1:0".into(), "tcp://0.0.0.0:0".into()))
            }
            Ports::From { frontend, backend } => {
                Ok((nth_endpoint(frontend, i)?, nth_endpoint(backend, i)?))
            }
        }
    }

    fn proxy_args(&self, frontend: &str, backend: &str, ready_file: &Path) -> Vec<String> {
        let mut args = self.proxy_command.clone();
        args.extend([
            "--frontend".into(),
            frontend.to_string(),
            "--backend".into(),
            backend.to_string(),
            "--ready-file".into(),
            ready_file.display().to_string(),
        ]);
        args.extend(self.proxy_args.iter().cloned());
        args
    }

    /// Worker `id`'s service, connected to `backends` (run in its network
    /// namespace, if it has one).
    fn worker_service(&self, id: &str, backends: &[String]) -> Service {
        match self.worker_netns.get(id) {
            None => self.service(id, self.worker_args(id, backends)),
            Some(ns) => {
                let backends: Vec<String> = backends
                    .iter()
                    .map(|b| b.replace("://127.0.0.1:", &format!("://{}:", ns.proxy_host)))
                    .collect();
                let mut args = vec!["netns".into(), "exec".into(), ns.netns.clone()];
                args.push(self.program.display().to_string());
                args.extend(self.worker_args(id, &backends));
                let mut service = self.service(id, args);
                service.set_program(PathBuf::from("ip"));
                service
            }
        }
    }

    fn worker_args(&self, id: &str, backends: &[String]) -> Vec<String> {
        let mut args = self.worker_command.clone();
        args.extend([
            "--id".into(),
            id.to_string(),
            "--proxy".into(),
            backends.join(","),
            "--data-dir".into(),
            self.root.join(id).display().to_string(),
        ]);
        args.extend(self.worker_args.iter().cloned());
        args
    }
}

/// `tcp://HOST:PORT` with the port moved up by `i` (port 0, "any", stays 0:
/// every proxy then gets its own port from the kernel).
pub fn nth_endpoint(base: &str, i: usize) -> Result<String, LaunchError> {
    let bad = || {
        LaunchError::Invalid(format!(
            "{base} + {i}: not a tcp://HOST:PORT endpoint with room for {i} more ports"
        ))
    };
    let (host, port) = base.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if port == 0 {
        return Ok(base.to_string());
    }
    let port = u16::try_from(i)
        .ok()
        .and_then(|i| port.checked_add(i))
        .ok_or_else(bad)?;
    Ok(format!("{host}:{port}"))
}

/// The endpoint a local process connects to for a bind endpoint
/// (`0.0.0.0` and `*` become `127.0.0.1`).
pub fn connectable(bind: &str) -> String {
    bind.replace("://0.0.0.0:", "://127.0.0.1:")
        .replace("://*:", "://127.0.0.1:")
}

impl ClusterProcesses {
    /// Starts the proxies, waits for their ready files, then starts the
    /// workers (connected to every proxy). Does not wait for the workers.
    pub fn start(spec: ClusterSpec) -> Result<Self, LaunchError> {
        if spec.proxies == 0 {
            return Err(LaunchError::Invalid("a cluster needs a proxy".into()));
        }
        if spec.log_files {
            let logs = spec.root.join("logs");
            std::fs::create_dir_all(&logs).map_err(|source| LaunchError::Io {
                path: logs.display().to_string(),
                source,
            })?;
        }
        let mut cluster = ClusterProcesses {
            proxies: Vec::new(),
            workers: Vec::new(),
            spec,
        };
        for i in 0..cluster.spec.proxies {
            let name = proxy_name(i, cluster.spec.proxies);
            let ready_file = cluster.spec.root.join(format!("{name}.ready.json"));
            remove_ready_file(&ready_file)?;
            let (frontend, backend) = cluster.spec.bind(i)?;
            let args = cluster.spec.proxy_args(&frontend, &backend, &ready_file);
            let mut service = cluster.spec.service(&name, args);
            service.spawn()?;
            cluster.proxies.push(Proxy {
                service,
                ready_file,
                endpoints: None,
            });
        }
        for i in 0..cluster.proxies.len() {
            let endpoints = cluster.wait_ready_file(i)?;
            cluster.proxies[i].endpoints = Some(endpoints);
        }
        let backends = cluster.backends();
        for id in cluster.spec.worker_ids.clone() {
            let mut service = cluster.spec.worker_service(&id, &backends);
            service.spawn()?;
            cluster.workers.push(service);
        }
        Ok(cluster)
    }

    /// What was launched.
    pub fn spec(&self) -> &ClusterSpec {
        &self.spec
    }

    /// Waits (bounded) for proxy `i`'s ready file; fails at once if a
    /// process exits meanwhile.
    fn wait_ready_file(&mut self, i: usize) -> Result<ReadyEndpoints, LaunchError> {
        let what = format!("{}'s ready file", self.proxies[i].service.name());
        let timeout = self.spec.ready_timeout;
        poll_until(&what, timeout, || {
            self.check_exits()?;
            let path = &self.proxies[i].ready_file;
            Ok(match read_ready_file(path)? {
                Some(endpoints) => Poll::Ready(endpoints),
                None => Poll::NotYet(format!("no {} yet", path.display())),
            })
        })
    }

    /// Proxy `i`'s reported endpoints (as connectable addresses).
    pub fn endpoints(&self, i: usize) -> Option<ReadyEndpoints> {
        let e = self.proxies.get(i)?.endpoints.as_ref()?;
        Some(ReadyEndpoints {
            frontend: connectable(&e.frontend),
            backend: connectable(&e.backend),
        })
    }

    /// Every proxy's client endpoint, in proxy order.
    pub fn frontends(&self) -> Vec<String> {
        (0..self.proxies.len())
            .filter_map(|i| self.endpoints(i).map(|e| e.frontend))
            .collect()
    }

    /// Every proxy's worker endpoint, in proxy order.
    pub fn backends(&self) -> Vec<String> {
        (0..self.proxies.len())
            .filter_map(|i| self.endpoints(i).map(|e| e.backend))
            .collect()
    }

    /// How many proxies.
    pub fn proxy_count(&self) -> usize {
        self.proxies.len()
    }

    /// How many workers.
    pub fn worker_count(&self) -> usize {
        self.workers.len()
    }

    /// Proxy `i`'s process. Panics if there is no proxy `i`.
    pub fn proxy(&mut self, i: usize) -> &mut Service {
        &mut self.proxies[i].service
    }

    /// Worker `i`'s process. Panics if there is no worker `i`.
    pub fn worker(&mut self, i: usize) -> &mut Service {
        &mut self.workers[i]
    }

    /// Proxy `i`'s pid, while it runs.
    pub fn proxy_pid(&self, i: usize) -> Option<u32> {
        self.proxies.get(i)?.service.pid()
    }

    /// Worker `i`'s pid, while it runs.
    pub fn worker_pid(&self, i: usize) -> Option<u32> {
        self.workers.get(i)?.pid()
    }

    /// Every process, proxies first.
    pub fn services(&self) -> impl Iterator<Item = &Service> {
        self.proxies.iter().map(|p| &p.service).chain(&self.workers)
    }

    /// Every process, proxies first.
    pub fn services_mut(&mut self) -> impl Iterator<Item = &mut Service> {
        self.proxies
            .iter_mut()
            .map(|p| &mut p.service)
            .chain(&mut self.workers)
    }

    /// Starts proxy `i` again (SIGKILLing it first if it runs) on the
    /// ports it first reported, and waits until its new ready file reports
    /// exactly those.
    pub fn restart_proxy(&mut self, i: usize) -> Result<(), LaunchError> {
        self.respawn_proxy(i)?;
        self.await_proxy(i)
    }

    /// Spawns proxy `i` again on its first ports without waiting for it
    /// (after it died: `up`'s supervisor); see [`Self::restart_proxy`].
    pub fn respawn_proxy(&mut self, i: usize) -> Result<(), LaunchError> {
        let proxy = &mut self.proxies[i];
        proxy.service.kill();
        remove_ready_file(&proxy.ready_file)?;
        if let Some(e) = &proxy.endpoints {
            let args = self
                .spec
                .proxy_args(&e.frontend, &e.backend, &proxy.ready_file);
            proxy.service.set_args(args);
        }
        proxy.service.spawn()
    }

    /// Waits for a respawned proxy `i`'s ready file and checks its ports.
    pub fn await_proxy(&mut self, i: usize) -> Result<(), LaunchError> {
        let got = self.wait_ready_file(i)?;
        let proxy = &mut self.proxies[i];
        match &proxy.endpoints {
            Some(want) if *want != got => Err(LaunchError::Moved {
                name: proxy.service.name().to_string(),
                want: want.clone(),
                got,
            }),
            _ => {
                proxy.endpoints = Some(got);
                Ok(())
            }
        }
    }

    /// Starts worker `i` again (SIGKILLing it first if it runs): same id,
    /// data dir, proxies and log.
    pub fn restart_worker(&mut self, i: usize) -> Result<(), LaunchError> {
        let worker = &mut self.workers[i];
        worker.kill();
        worker.spawn()
    }

    /// Starts one more worker, `id`, connected to every proxy (a member
    /// joining a running cluster). Returns its index.
    pub fn add_worker(&mut self, id: &str) -> Result<usize, LaunchError> {
        let mut service = self.spec.worker_service(id, &self.backends());
        service.spawn()?;
        self.spec.worker_ids.push(id.to_string());
        self.workers.push(service);
        Ok(self.workers.len() - 1)
    }

    /// Fails if a process that was started has exited by itself (a killed
    /// one is not running and not reported).
    pub fn check_exits(&mut self) -> Result<(), LaunchError> {
        let dead: Vec<String> = self
            .services_mut()
            .filter_map(|s| {
                s.exited()
                    .map(|status| format!("{} exited with {status}", s.name()))
            })
            .collect();
        if dead.is_empty() {
            Ok(())
        } else {
            Err(LaunchError::Exited(dead.join("; ")))
        }
    }

    /// The log files, with the last `lines` lines of each.
    pub fn log_report(&self, lines: usize) -> String {
        self.services()
            .map(|s| {
                let log = s.log().map(|p| p.display().to_string()).unwrap_or_default();
                format!("--- {} ({log}) ---\n{}", s.name(), s.log_tail(lines))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// SIGTERM to every process, then SIGKILL to those still running after
    /// `grace`. Returns the names of the processes that had to be killed.
    pub fn terminate_all(&mut self, grace: Duration) -> Vec<String> {
        for service in self.services_mut() {
            service.terminate();
        }
        let deadline = Instant::now() + grace;
        self.services_mut()
            .filter_map(|s| (!s.reap_or_kill(deadline)).then(|| s.name().to_string()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(ports: Ports) -> ClusterSpec {
        ClusterSpec {
            program: "true".into(),
            proxy_command: vec!["proxy".into()],
            worker_command: vec!["worker".into()],
            root: "/data".into(),
            secret_file: "/data/cluster.secret".into(),
            env: vec![],
            proxies: 2,
            worker_ids: vec!["w0".into()],
            proxy_args: vec!["--replicas".into(), "3".into()],
            worker_args: vec![],
            ports,
            log_files: true,
            parent_death_signal: 0,
            ready_timeout: Duration::from_secs(1),
            worker_netns: Default::default(),
        }
    }

    #[test]
    fn fixed_ports_are_consecutive_per_proxy() {
        let s = spec(Ports::From {
            frontend: "tcp://0.0.0.0:5555".into(),
            backend: "tcp://127.0.0.1:5557".into(),
        });
        assert_eq!(
            s.bind(1).unwrap(),
            ("tcp://0.0.0.0:5556".into(), "tcp://127.0.0.1:5558".into())
        );
        assert!(nth_endpoint("tcp://h:65535", 1).is_err());
        assert!(nth_endpoint("tcp://h", 0).is_err());
        assert_eq!(nth_endpoint("tcp://h:0", 3).unwrap(), "tcp://h:0");
        assert_eq!(s.bind(0).unwrap().0, "tcp://0.0.0.0:5555");
        assert_eq!(connectable("tcp://0.0.0.0:5556"), "tcp://127.0.0.1:5556");
        assert_eq!(connectable("tcp://*:5556"), "tcp://127.0.0.1:5556");
    }

    #[test]
    fn workers_get_every_backend_and_no_secret_on_the_command_line() {
        let s = spec(Ports::Any);
        let args = s.worker_args("w0", &["tcp://a:1".into(), "tcp://b:2".into()]);
        assert_eq!(
            args,
            [
                "worker",
                "--id",
                "w0",
                "--proxy",
                "tcp://a:1,tcp://b:2",
                "--data-dir",
                "/data/w0"
            ]
        );
        let service = s.service("w0", args);
        assert!(service.args().iter().all(|a| !a.contains("secret")));
        let proxy = s.proxy_args("tcp://127.0.0.1:0", "tcp://127.0.0.1:0", Path::new("/r"));
        assert_eq!(proxy.last().map(String::as_str), Some("3"));
        assert!(proxy.contains(&"--ready-file".to_string()));
    }

    #[test]
    fn a_proxy_that_exits_before_its_ready_file_fails_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spec(Ports::Any);
        s.root = dir.path().to_path_buf();
        s.program = "false".into();
        let err = ClusterProcesses::start(s).unwrap_err();
        assert!(matches!(err, LaunchError::Exited(_)), "{err}");
    }
}
