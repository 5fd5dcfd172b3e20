//! Network namespaces a test creates, so it can cut one worker's link and
//! heal it (issue 9, DESIGN §10): each namespace is joined to the host by a
//! veth pair on its own /30; the worker runs inside it (`ip netns exec`)
//! and reaches the proxies at the host's end of the pair. Cutting the link
//! sets the host's end down: packets are dropped, nothing is reset, as when
//! a cable or a switch fails. Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN);
//! [`Netns::create`] says why not when it cannot. Dropping a [`Netns`]
//! deletes the namespace and the pair.

use std::process::Command;

/// One namespace and its veth pair.
#[derive(Debug)]
pub struct Netns {
    name: String,
    host_if: String,
    host_ip: String,
}

/// Runs `ip ARGS`; the error names the command and what `ip` said.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Netns {
    /// Creates namespace number `i` of this test process (names and
    /// addresses derive from the pid, so concurrent tests do not collide).
    pub fn create(i: u8) -> Result<Netns, String> {
        if i >= 60 {
            return Err(format!("namespace {i}: at most 60 per process"));
        }
        let pid = std::process::id();
        let tag = format!("sl{}", pid % 1_000_000);
        let name = format!("{tag}n{i}");
        let host_if = format!("{tag}h{i}");
        let ns_if = format!("{tag}p{i}");
        let (a, b) = (100 + pid % 100, (pid / 100) % 250);
        let host_ip = format!("10.{a}.{b}.{}", 4 * u32::from(i) + 1);
        let ns_ip = format!("10.{a}.{b}.{}", 4 * u32::from(i) + 2);
        // Leftovers of an earlier process with the same pid.
        let _ = ip(&["netns", "del", &name]);
        let _ = ip(&["link", "del", &host_if]);
        let ns = Netns {
            name: name.clone(),
            host_if: host_if.clone(),
            host_ip: host_ip.clone(),
        };
        ip(&["netns", "add", &name])?;
        ip(&[
            "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
        ])?;
        ip(&["link", "set", &ns_if, "netns", &name])?;
        ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &host_if])?;
        ip(&["link", "set", &host_if, "up"])?;
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", name.as_str(), "ip"];
            all.extend_from_slice(args);
            ip(&all)
        };
        inside(&["addr", "add", &format!("{ns_ip}/30"), "dev", &ns_if])?;
        inside(&["link", "set", &ns_if, "up"])?;
        inside(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name (for `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host's address as seen from inside.
    pub fn host_ip(&self) -> &str {
        &self.host_ip
    }

    /// Cuts the link: the host's end goes down.
    pub fn cut(&self) -> Result<(), String> {
        ip(&["link", "set", &self.host_if, "down"])
    }

    /// Heals it.
    pub fn heal(&self) -> Result<(), String> {
        ip(&["link", "set", &self.host_if, "up"])
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
        let _ = ip(&["link", "del", &self.host_if]);
    }
}
