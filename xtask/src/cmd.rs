//! Running programs: echo the command, run it, say clearly what failed.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::Result;

/// A command line about to run, printed before it runs.
pub fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// Runs `command` to completion with inherited output; fails on a non-zero exit.
pub fn run(command: &mut Command) -> Result {
    println!("$ {}", describe(command));
    let status = command
        .status()
        .map_err(|err| format!("cannot run `{}`: {err}", describe(command)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", describe(command)))
    }
}

/// Runs `command`, echoing its stdout line by line and handing each line to `observe`. Returns
/// whether it exited successfully.
pub fn run_observed(command: &mut Command, mut observe: impl FnMut(&str)) -> Result<bool> {
    println!("$ {}", describe(command));
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|err| format!("cannot run `{}`: {err}", describe(command)))?;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            println!("{line}");
            observe(&line);
        }
    }
    let status = child
        .wait()
        .map_err(|err| format!("waiting for `{}`: {err}", describe(command)))?;
    Ok(status.success())
}

/// Runs `command` quietly and returns its trimmed stdout, or `None` when it cannot run or fails.
pub fn output(command: &mut Command) -> Option<String> {
    let out = command.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `program` as found on `PATH`.
pub fn which(program: impl AsRef<OsStr>) -> Option<PathBuf> {
    let program = program.as_ref();
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// `cargo`, as the one running this xtask.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Whether this process runs as root (apt and PostgreSQL's user switch depend on it).
pub fn is_root() -> bool {
    output(Command::new("id").arg("-u")).as_deref() == Some("0")
}

/// A free TCP port on 127.0.0.1 (the OS picks one; it is free again when we return).
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("cannot find a free port: {e}"))?;
    listener
        .local_addr()
        .map(|addr| addr.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// The first string value of `key` in a one-line JSON text (cargo's messages, a server's
/// answer). xtask stays on the standard library (it must compile fast); the values read this way
/// are paths, names and tokens, which carry no escapes.
pub fn json_string<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!(r#""{key}":""#))? + key.len() + 4;
    let rest = line.get(start..)?;
    rest.get(..rest.find('"')?)
}
