//! A throwaway PostgreSQL cluster: made in a temporary directory, listening on 127.0.0.1 only,
//! stopped and deleted when dropped.
//!
//! `postgres` runs as a direct child (not daemonized by `pg_ctl`), so a Ctrl-C in the terminal
//! reaches it too and nothing is left running. As root, the programs run as the `postgres` user
//! (initdb refuses root).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Result;
use crate::cmd::{self, free_port, is_root, output};
use crate::setup::postgres_bin_dir;

pub struct Postgres {
    dir: PathBuf,
    child: Child,
    port: u16,
}

/// How much durability the cluster keeps.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// No fsync: for tests, whose cluster is deleted after the run.
    Off,
    /// PostgreSQL's defaults (fsync, synchronous commit): for benchmarks, as the peers run it.
    Default,
}

impl Postgres {
    pub fn start(durability: Durability) -> Result<Self> {
        let bin = postgres_bin_dir()?;
        let dir = std::env::temp_dir().join(format!("keyward-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let as_postgres = is_root();
        if as_postgres {
            cmd::run(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&dir),
            )?;
        }
        let data = dir.join("data");
        let quiet_initdb = program(&bin, "initdb", as_postgres)
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run initdb: {e}"))?;
        if !quiet_initdb.success() {
            return Err(format!("initdb failed ({quiet_initdb})"));
        }
        let port = free_port()?;
        let mut postgres = program(&bin, "postgres", as_postgres);
        postgres
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-k")
            .arg(&dir)
            .args(["-c", "max_connections=400"]);
        if durability == Durability::Off {
            // Durability is pointless for a cluster deleted after the run; without fsync the
            // tests spend their time on Keyward, not on the disk.
            postgres
                .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
                .args(["-c", "full_page_writes=off"]);
        }
        let child = postgres
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(dir.join("postgres.log"))
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            )
            .spawn()
            .map_err(|e| format!("cannot start postgres: {e}"))?;
        let mut cluster = Self { dir, child, port };
        cluster.wait_ready(&bin)?;
        println!("postgres: throwaway cluster on 127.0.0.1:{port}");
        Ok(cluster)
    }

    /// A superuser URL to the `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn wait_ready(&mut self, bin: &Path) -> Result {
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = self.port.to_string();
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log =
                    std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default();
                return Err(format!("postgres exited at start ({status}):\n{log}"));
            }
            let ready = output(Command::new(bin.join("pg_isready")).args([
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
            ]));
            if ready.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err("postgres did not accept connections within 30 s".into())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGINT is PostgreSQL's "fast shutdown": running queries are cancelled, then it exits.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
        println!("postgres: throwaway cluster stopped and removed");
    }
}

/// `bin/name`, run as the `postgres` user when we are root. `setpriv` execs in place (no extra
/// process in between), so signals sent to the child reach PostgreSQL itself.
fn program(bin: &Path, name: &str, as_postgres: bool) -> Command {
    let mut command = if as_postgres {
        let mut command = Command::new("setpriv");
        command
            .args([
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                "--",
            ])
            .arg(bin.join(name));
        command
    } else {
        Command::new(bin.join(name))
    };
    // The postgres user may not be allowed into the caller's working directory.
    command.current_dir(std::env::temp_dir());
    command
}
