//! Where the bench's webhooks go: an nginx (Debian's, as the gateway tests use) that answers
//! every request 204, so that what is measured is Keyward's side of a delivery.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Result;
use crate::cmd::free_port;
use crate::setup::nginx_path;

/// An nginx answering 204 on a free port, stopped when dropped.
pub(super) struct Sink {
    child: Child,
    port: u16,
}

impl Sink {
    /// Starts it with its files under `dir`.
    pub(super) fn start(dir: &Path) -> Result<Self> {
        let nginx = nginx_path().ok_or("nginx is missing: run `cargo xtask setup`")?;
        std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let port = free_port()?;
        let files = dir.display();
        let config = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {files}/nginx.pid;\n\
             error_log {files}/error.log warn;\nevents {{ worker_connections 1024; }}\nhttp {{\n\
             access_log off;\nclient_body_temp_path {files}/body;\nproxy_temp_path {files}/proxy;\n\
             fastcgi_temp_path {files}/fastcgi;\nuwsgi_temp_path {files}/uwsgi;\n\
             scgi_temp_path {files}/scgi;\n\
             server {{ listen 127.0.0.1:{port}; location / {{ return 204; }} }}\n}}\n"
        );
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config).map_err(|e| format!("write {}: {e}", conf.display()))?;
        let child = Command::new(nginx)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("start nginx: {e}"))?;
        let sink = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err("the webhook sink (nginx) did not listen".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(sink)
    }

    /// The URL of endpoint `n`.
    pub(super) fn url(&self, n: usize) -> String {
        format!("http://127.0.0.1:{}/hook/{n}", self.port)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
