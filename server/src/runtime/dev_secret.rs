//! The development master secret: with no `KEYWARD_SECRET`, one is generated on first start and
//! kept beside the database (readable by its owner only), with a warning. Production refuses to
//! start without one (see `Settings::validate`).

use std::path::{Path, PathBuf};

use crate::Error;
use crate::secrets::{MIN_SECRET_LEN, MasterSecret};

/// Where a development server keeps its generated secret: beside the SQLite file, or in the
/// working directory for PostgreSQL.
pub fn dev_secret_path(database_url: &str) -> PathBuf {
    let file = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .map(|rest| rest.split('?').next().unwrap_or(rest))
        .filter(|path| !path.is_empty() && !path.contains(":memory:"));
    match file.and_then(|f| Path::new(f).parent()) {
        Some(dir) => dir.join("keyward.secret"),
        None => PathBuf::from("keyward.secret"),
    }
}

/// Reads the development secret at `path`, or makes one (48 random bytes, base64url) and writes
/// it there readable by the owner only.
pub fn load_or_create_dev_secret(path: &Path) -> Result<MasterSecret, Error> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().len() >= MIN_SECRET_LEN => {
            return Ok(MasterSecret::new(text.trim().as_bytes()));
        }
        Ok(_) => {
            return Err(Error::Config {
                setting: "secret",
                reason: format!("{} is shorter than 32 bytes", path.display()),
            });
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err.into()),
    }
    let secret = crate::domain::b64(&crate::domain::Random::os().bytes::<48>());
    match write_private(path, &secret) {
        Ok(()) => {}
        // Another process made it first: use theirs.
        Err(Error::Io(err)) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            return load_or_create_dev_secret(path);
        }
        Err(err) => return Err(err),
    }
    tracing::warn!(
        path = %path.display(),
        "no KEYWARD_SECRET set: generated a development secret and saved it there; \
         production requires KEYWARD_SECRET"
    );
    Ok(MasterSecret::new(secret.into_bytes()))
}

fn write_private(path: &Path, contents: &str) -> Result<(), Error> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dev_secret_lives_beside_the_sqlite_file_and_is_reused() {
        assert_eq!(
            dev_secret_path("sqlite:///var/lib/kw/keyward.db?mode=rwc"),
            PathBuf::from("/var/lib/kw/keyward.secret")
        );
        assert_eq!(
            dev_secret_path("postgres://u@h/db"),
            PathBuf::from("keyward.secret")
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyward.secret");
        let first = load_or_create_dev_secret(&path).unwrap();
        let second = load_or_create_dev_secret(&path).unwrap();
        assert_eq!(first, second);
        assert!(first.len() >= MIN_SECRET_LEN);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
