//! W6 many live devices (issue 11 deliverable 8): `--w6-devices` raw ZMTP
//! DEALER connections to the cluster's proxy, simulated on this process's
//! tokio runtime, each subscribed to one of `--w6-lists` lists. Then one
//! real client device writes `--w6-writes` times at `--w6-rate` per second
//! on random lists (seeded; the seed is printed), and every subscribed
//! device times the `notify` for each write: from just before the write's
//! sync request to the push's arrival, matched by list and heads
//! ([`Writes`]).
//!
//! Reported: notify latency over all (device, write) deliveries, deliveries
//! expected vs received, the time to connect every device, the proxy's RSS
//! per connection and its CPU per write. When the descriptor limits cannot
//! hold every requested device, the largest size that fits runs instead
//! and the line says what limited it ([`fit_devices`]).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use engine::protocol::{codec, limits::Limits, Header, Message};
use engine::ListId;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinSet;

use super::w6_plan::{fit_devices, list_of, source, subscribers, Writes, BENCH_RESERVE};
use super::Env;
use crate::cluster::{rss_bytes, Cluster};
use crate::device::{on_thread, setup_store_options, Device};
use crate::stats::{round3, Summary};
use shoplist_net::zmtp::{self, Decoder};

/// Devices per source address: under `--max-per-source` (256) with margin.
const PER_SOURCE: usize = 200;
/// Devices connecting at once.
const CONNECTING: usize = 128;
/// Bound on one device's connect, handshake and `subscribed`.
const STEP: Duration = Duration::from_secs(20);
/// A device pings after this long without sending, so the guard's idle
/// timeout (60 s) never closes it (unless `--w6-ping-ms` is set).
const KEEPALIVE: Duration = Duration::from_secs(20);
/// How long deliveries may trail the last write.
const DRAIN: Duration = Duration::from_secs(10);
/// Proxy CPU is sampled over this long with every device connected and no
/// writes (the keepalive's cost).
const IDLE_WINDOW: Duration = Duration::from_secs(2);
/// The writer's list-choice seed.
const SEED: u64 = 0x5736;

/// A device's `notify` for write `write`, `latency` after its sync began.
struct Delivery {
    device: usize,
    write: usize,
    latency: Duration,
}

/// A device's life after connecting, reported when it stops.
#[derive(Default)]
struct DeviceEnd {
    unmatched: usize,
    error: Option<String>,
}

/// Connect device `k` from its source address, handshake, subscribe to
/// `list`; reports readiness on `ready`, then reads notifies until `stop`.
#[allow(clippy::too_many_arguments)]
async fn device(
    k: usize,
    port: u16,
    list: ListId,
    writes: Arc<Writes>,
    gate: Arc<Semaphore>,
    ready: mpsc::UnboundedSender<Result<(), String>>,
    deliveries: mpsc::UnboundedSender<Delivery>,
    mut stop: watch::Receiver<bool>,
    ping_every: Duration,
) -> DeviceEnd {
    let mut end = DeviceEnd::default();
    let permit = gate.acquire_owned().await;
    let setup = tokio::time::timeout(STEP, async {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from((source(k, PER_SOURCE), 0)))?;
        let mut stream = socket
            .connect(SocketAddr::from(([127, 0, 0, 1], port)))
            .await?;
        stream.set_nodelay(true)?;
        let sub = Message::new(Header::Subscribe {
            id: 1,
            lists: vec![list],
            session: None,
            changes: None,
        });
        let mut hello = zmtp::hello();
        hello.extend(zmtp::message(&codec::encode(&sub)));
        stream.write_all(&hello).await?;
        let mut dec = Decoder::default();
        loop {
            if stream.read_buf(dec.buffer()).await? == 0 {
                return Err(anyhow!("closed before `subscribed`"));
            }
            while let Some(frames) = dec.next_message()? {
                match codec::decode(&frames, &Limits::default()).map(|m| m.header) {
                    Ok(Header::Subscribed { id: 1, .. }) => return Ok((stream, dec)),
                    Ok(Header::Error { message, .. }) => bail!("subscribe refused: {message}"),
                    _ => {}
                }
            }
        }
    })
    .await;
    drop(permit);
    let (mut stream, mut dec) = match setup {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            let _ = ready.send(Err(format!("{e:#}")));
            return end;
        }
        Err(_) => {
            let _ = ready.send(Err("connect + subscribe timed out".into()));
            return end;
        }
    };
    let _ = ready.send(Ok(()));
    let mut seen = HashSet::new();
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    let mut ping_id = 1u64;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = ping.tick() => {
                ping_id += 1;
                let bytes = zmtp::message(&codec::encode(&Message::new(Header::Ping { id: ping_id })));
                if let Err(e) = stream.write_all(&bytes).await {
                    end.error = Some(format!("ping: {e}"));
                    break;
                }
            }
            read = stream.read_buf(dec.buffer()) => {
                match read {
                    Ok(0) => { end.error = Some("closed by the proxy".into()); break; }
                    Err(e) => { end.error = Some(e.to_string()); break; }
                    Ok(_) => {}
                }
                let at = Instant::now();
                loop {
                    let frames = match dec.next_message() {
                        Ok(Some(f)) => f,
                        Ok(None) => break,
                        Err(e) => { end.error = Some(e.to_string()); return end; }
                    };
                    let Ok(Header::Notify { list: l, heads, .. }) =
                        codec::decode(&frames, &Limits::default()).map(|m| m.header)
                    else {
                        continue; // pong
                    };
                    match writes.find(l, &heads) {
                        Some((write, sent)) if seen.insert(write) => {
                            let latency = at.saturating_duration_since(sent);
                            let _ = deliveries.send(Delivery { device: k, write, latency });
                        }
                        Some(_) => {}
                        None => end.unmatched += 1,
                    }
                }
            }
        }
    }
    end
}

/// Process `pid`'s user + system CPU seconds, from /proc/<pid>/stat.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesized command; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| ticks as f64 / hz as f64)
}

/// Process `pid`'s soft open-files limit, from /proc/<pid>/limits.
fn nofile(pid: u32) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The port of a `tcp://host:port` endpoint.
fn port_of(endpoint: &str) -> anyhow::Result<u16> {
    endpoint
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .with_context(|| format!("no port in {endpoint}"))
}

/// Run W6 against `cluster`.
pub async fn run(env: &Env, cluster: &mut Cluster) -> anyhow::Result<Value> {
    let a = &env.args;
    let lists = a.w6_lists.max(1);
    let writes_total = a.w6_writes;
    let rate = a.w6_rate.max(1.0);
    let proxy = cluster.proxy_pid();
    let bench_fds = shoplist_net::fdlimit::raise_nofile(a.w6_devices as u64 + BENCH_RESERVE)
        .context("cannot raise the fd limit")?;
    let proxy_fds = nofile(proxy).context("cannot read the proxy's fd limit")?;
    let (devices, limited_by) = fit_devices(a.w6_devices, proxy_fds, bench_fds.soft);
    if let Some(why) = &limited_by {
        eprintln!(
            "W6: {} devices requested, {devices} fit ({why})",
            a.w6_devices
        );
    }
    eprintln!("W6: writer list seed {SEED:#x}");
    let port = port_of(&env.endpoint)?;
    let ping_every = match a.w6_ping_ms {
        0 => KEEPALIVE,
        ms => Duration::from_millis(ms),
    };

    // The writer: creates the lists, hands their ids over, waits for `go`.
    let plan: Vec<usize> = {
        let mut rng = rand::rngs::StdRng::seed_from_u64(SEED);
        (0..writes_total).map(|_| rng.gen_range(0..lists)).collect()
    };
    let writes = Arc::new(Writes::default());
    let (ids_tx, ids_rx) = oneshot::channel();
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let halt = Arc::new(AtomicBool::new(false));
    let (ep, w, p, h) = (
        env.endpoint.clone(),
        writes.clone(),
        plan.clone(),
        halt.clone(),
    );
    let writer = on_thread("w6-writer", move || async move {
        let mut dev = Device::open("w6-writer", &ep, setup_store_options())?;
        let mut ids = Vec::with_capacity(lists);
        for i in 0..lists {
            ids.push(dev.create_list(&format!("W6 list {i}"))?);
        }
        let _ = ids_tx.send(ids.clone());
        go_rx.await.context("W6 stopped before the writes")?;
        let start = tokio::time::Instant::now();
        let (mut errors, mut syncs) = (0usize, Vec::with_capacity(p.len()));
        for (k, &l) in p.iter().enumerate() {
            if h.load(Ordering::Relaxed) {
                break;
            }
            tokio::time::sleep_until(start + Duration::from_secs_f64(k as f64 / rate)).await;
            dev.add_item(ids[l], &format!("w6-{k}"))?;
            let heads = dev.store.heads(ids[l])?;
            let sent = Instant::now();
            w.register(ids[l], heads, k, sent);
            match dev.sync(ids[l]).await {
                Ok(_) => syncs.push(sent.elapsed()),
                Err(_) => errors += 1,
            }
        }
        Ok((start.elapsed(), errors, syncs))
    });
    let mut writer = tokio::spawn(writer);
    let ids: Vec<ListId> = match ids_rx.await {
        Ok(ids) => ids,
        Err(_) => match writer.await {
            Ok(Err(e)) => return Err(e.context("the W6 writer failed to create its lists")),
            _ => bail!("the W6 writer failed to create its lists"),
        },
    };

    // Connect every device.
    let rss_before = rss_bytes(proxy).unwrap_or(0);
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let (deliv_tx, mut deliv_rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let gate = Arc::new(Semaphore::new(CONNECTING));
    let mut tasks = JoinSet::new();
    let t_connect = Instant::now();
    for k in 0..devices {
        tasks.spawn(device(
            k,
            port,
            ids[list_of(k, lists)],
            writes.clone(),
            gate.clone(),
            ready_tx.clone(),
            deliv_tx.clone(),
            stop_rx.clone(),
            ping_every,
        ));
    }
    drop((ready_tx, deliv_tx));
    let connect_deadline = Instant::now() + Duration::from_secs(60 + devices as u64 / 100);
    let (mut connected, mut failed, mut first_error) = (0usize, 0usize, None);
    while connected + failed < devices {
        let left = connect_deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ready_rx.recv()).await {
            Ok(Some(Ok(()))) => connected += 1,
            Ok(Some(Err(e))) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
            Ok(None) | Err(_) => break,
        }
    }
    let connect_time = t_connect.elapsed();
    let rss_after = rss_bytes(proxy).unwrap_or(0);
    cluster.check_alive()?;

    // Writes. Deliveries expected: each write reaches its list's devices
    // (those that failed to connect are not subscribed: if any failed, the
    // expected count is an upper bound and `device_failures` says so).
    let subs = subscribers(devices, lists);
    let expected: usize = plan.iter().map(|&l| subs[l]).sum();
    // The proxy's CPU with every device connected and no writes: the cost
    // of the devices' keepalive pings alone (a measurement window).
    let idle_before = cpu_seconds(proxy);
    tokio::time::sleep(IDLE_WINDOW).await;
    let idle_cpu = idle_before
        .zip(cpu_seconds(proxy))
        .map(|(b, a)| round3((a - b) / IDLE_WINDOW.as_secs_f64()));
    let cpu_before = cpu_seconds(proxy);
    let _ = go_tx.send(());
    let writes_start = Instant::now();
    let writes_deadline = writes_start
        + Duration::from_secs_f64(writes_total as f64 / rate)
        + Duration::from_secs(30);
    let mut latencies = Vec::with_capacity(expected);
    let mut writer_result = None;
    let mut drain_until = None;
    while latencies.len() < expected || writer_result.is_none() {
        let until = drain_until.unwrap_or(writes_deadline);
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        tokio::select! {
            d = deliv_rx.recv() => match d {
                Some(d) => latencies.push((d.device, d.write, d.latency)),
                None => break,
            },
            r = &mut writer, if writer_result.is_none() => {
                writer_result = Some(r.map_err(|e| anyhow!("writer task: {e}")).and_then(|r| r));
                drain_until = Some(Instant::now() + DRAIN);
            }
            _ = tokio::time::sleep(left) => break,
        }
    }
    let cpu_after = cpu_seconds(proxy);
    let rss_end = rss_bytes(proxy).unwrap_or(0);

    // Stop every device; their sockets close as the tasks end.
    let _ = stop_tx.send(true);
    let mut unmatched = 0;
    let mut dropped = 0;
    let join_deadline = Instant::now() + Duration::from_secs(10);
    while let Ok(Some(joined)) = tokio::time::timeout(
        join_deadline.saturating_duration_since(Instant::now()),
        tasks.join_next(),
    )
    .await
    {
        if let Ok(end) = joined {
            unmatched += end.unmatched;
            if end.error.is_some() {
                dropped += 1;
                first_error = first_error.or(end.error);
            }
        }
    }
    tasks.abort_all();
    halt.store(true, Ordering::Relaxed);
    writer.abort();
    // A writer that did not finish in time (an overloaded proxy) is a
    // result too: reported with what was delivered.
    let writer_finished = writer_result.is_some();
    let (write_elapsed, write_errors, syncs) = match writer_result {
        Some(r) => r?,
        None => (Instant::now() - writes_start, 0, Vec::new()),
    };

    let lat: Vec<Duration> = latencies.iter().map(|&(_, _, l)| l).collect();
    let s = Summary::of(&lat);
    let sync = Summary::of(&syncs);
    let connections = connected.max(1) as f64;
    let rss_per_conn_kib = rss_after.saturating_sub(rss_before) as f64 / 1024.0 / connections;
    let cpu = match (cpu_before, cpu_after) {
        (Some(b), Some(a)) => Some(a - b),
        _ => None,
    };
    let cpu_per_write_ms = cpu.map(|c| round3(c * 1e3 / writes_total.max(1) as f64));
    Ok(json!({
        "devices_requested": a.w6_devices,
        "devices": devices,
        "devices_connected": connected,
        "device_failures": failed,
        "devices_dropped": dropped,
        "first_error": first_error,
        "limited_by": limited_by,
        "lists": lists,
        "per_source": PER_SOURCE,
        "device_ping_ms": ping_every.as_millis() as u64,
        "writes": writes_total,
        "rate_per_s": rate,
        "writer_finished": writer_finished,
        "writes_elapsed_s": round3(write_elapsed.as_secs_f64()),
        "write_errors": write_errors,
        "writer_sync_p50_ms": sync.p50,
        "writer_sync_p99_ms": sync.p99,
        "seed": SEED,
        "deliveries_expected": expected,
        "deliveries_received": lat.len(),
        "notifies_unmatched": unmatched,
        "notify_p50_ms": s.p50,
        "notify_p99_ms": s.p99,
        "notify_max_ms": s.max,
        "connect_all_s": round3(connect_time.as_secs_f64()),
        "proxy_rss_before_mib": round3(rss_before as f64 / 1048576.0),
        "proxy_rss_connected_mib": round3(rss_after as f64 / 1048576.0),
        "proxy_rss_end_mib": round3(rss_end as f64 / 1048576.0),
        "proxy_rss_per_connection_kib": round3(rss_per_conn_kib),
        "proxy_cpu_idle_per_s": idle_cpu,
        "proxy_cpu_write_phase_s": cpu.map(round3),
        "proxy_cpu_per_write_ms": cpu_per_write_ms,
        "proxy_fd_limit": proxy_fds,
        "proxy_guarded": !a.proxy_unguarded,
        "target": "notify_p99_ms <= 100, devices == 10000",
        "meets_target": writer_finished && s.p99 <= 100.0 && connected >= 10_000 && lat.len() == expected,
    }))
}
