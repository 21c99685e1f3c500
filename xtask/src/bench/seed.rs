//! Users for the admin search scenario: 100,000 rows written straight into the server's
//! database with its own client (`sqlite3`, `psql`), as a long-lived deployment would have
//! them (signing them up would spend the bench's minutes hashing passwords). Addresses and names
//! are made of pseudo-random letters, so prefixes of one to three letters match from a few
//! thousand users down to none.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::Result;

/// Writes `count` users into the database at `url`, then has it gather its statistics.
pub(super) fn seed_users(url: &str, count: u64, out: &Path) -> Result {
    let mut sql = String::from("BEGIN;\n");
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        // xorshift64*: reproducible, and enough spread for letters.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut word = |len: u64| -> String {
        (0..len)
            .map(|_| char::from(b'a' + u8::try_from(next() % 26).unwrap_or(0)))
            .collect()
    };
    let start_ms: u64 = 1_700_000_000_000;
    for n in 0..count {
        if n % 1000 == 0 {
            if n > 0 {
                sql.push_str(";\n");
            }
            sql.push_str(
                "INSERT INTO users (id, email, email_key, name, created_at, updated_at) VALUES ",
            );
        } else {
            sql.push(',');
        }
        let local = word(5 + n % 4);
        let (first, last) = (word(4 + n % 3), word(6));
        let at = start_ms + n * 37;
        let _ = write!(
            sql,
            "('{:08x}-{:04x}-7{:03x}-8{:03x}-{:012x}','{local}{n}@example.com','{local}{n}@example.com','{} {}',{at},{at})",
            at >> 16,
            at & 0xffff,
            n >> 12 & 0xfff,
            n & 0xfff,
            n,
            capital(&first),
            capital(&last),
        );
    }
    sql.push_str(";\nCOMMIT;\nANALYZE;\n");
    let script = out.join("seed-users.sql");
    std::fs::write(&script, &sql).map_err(|e| format!("write {}: {e}", script.display()))?;
    let mut command = match url.strip_prefix("sqlite://") {
        Some(path) => {
            let mut command = Command::new("sqlite3");
            command.arg(path.split('?').next().unwrap_or(path));
            command
        }
        None => {
            let mut command = Command::new("psql");
            command.args(["-q", "-v", "ON_ERROR_STOP=1", url]);
            command
        }
    };
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("the database's client (sqlite3 or psql): {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // sqlite3 waits for the server's writer rather than failing at once.
        if url.starts_with("sqlite://") {
            stdin
                .write_all(b".timeout 10000\n")
                .map_err(|e| e.to_string())?;
        }
        stdin.write_all(sql.as_bytes()).map_err(|e| e.to_string())?;
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("seeding users failed (see {})", script.display()));
    }
    Ok(())
}

fn capital(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_ascii_uppercase().to_string() + chars.as_str()
    })
}
