//! A real HAProxy in front of two replicas of one airline, run with the configuration
//! `PASSCOM_REPLICAS=2 scripts/federation up` uses (`scripts/lib/haproxy.cfg`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// `haproxy` as Debian installs it (`/usr/sbin`, which a user's PATH may lack).
fn haproxy_bin() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("haproxy"))
        .find(|bin| bin.is_file());
    on_path.or_else(|| Some(PathBuf::from("/usr/sbin/haproxy")).filter(|bin| bin.is_file())).unwrap_or_else(|| {
        panic!("haproxy not found: install the Debian package haproxy (scripts/test installs it when missing)")
    })
}

pub struct LoadBalancer {
    child: Child,
}

impl LoadBalancer {
    /// Listens on `port` and spreads requests over the two replicas' ports.
    pub fn start(port: u16, replicas: [u16; 2]) -> Self {
        let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/lib/haproxy.cfg");
        let child = Command::new(haproxy_bin())
            .arg("-db")
            .arg("-f")
            .arg(&config)
            .env("PASSCOM_LB_PORT", port.to_string())
            .env("PASSCOM_REPLICA_1_PORT", replicas[0].to_string())
            .env("PASSCOM_REPLICA_2_PORT", replicas[1].to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting haproxy");
        LoadBalancer { child }
    }
}

impl Drop for LoadBalancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
