//! The npm package's sizes as a browser gets them: each page bundled and minified by esbuild
//! (as an app's bundler would), gzip -9. The core is `createAuthClient` + sign-in + `fetch`; a
//! feature module or `keyward/react` counts as what it adds to that page (React itself left
//! out). And where the core's wasm bytes go (twiggy over a build that keeps its names).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::cmd;
use crate::{Result, root};

/// What the report shows.
pub(crate) struct PackageSizes {
    /// The core page: minified JS with the inlined wasm, gzip -9.
    pub core: u64,
    /// The same files unbundled and unminified (`npm/pkg`), gzip -9.
    pub files: u64,
    /// What each feature module (and `keyward/react`) adds to the core page, gzip -9.
    pub modules: Vec<(&'static str, i64)>,
    /// The wasm's bytes (after wasm-opt, before gzip) by part, largest first.
    pub breakdown: Vec<(String, u64)>,
}

const CORE: &str = "import { createAuthClient } from \"PKG/index.js\";\n\
    const auth = createAuthClient({ serverUrl: \"/auth\" });\n\
    auth.onChange(() => {});\n\
    globalThis.use = [() => auth.signIn({ email: \"\", password: \"\" }), () => auth.fetch(\"/\")];\n";

const MODULES: &[(&str, &str)] = &[
    (
        "keyward/sessions",
        "import { sessions } from \"PKG/sessions.js\"; globalThis.m = sessions;",
    ),
    (
        "keyward/devices",
        "import { devices } from \"PKG/devices.js\"; globalThis.m = devices;",
    ),
    (
        "keyward/passkeys",
        "import { passkeys } from \"PKG/passkeys.js\"; globalThis.m = passkeys;",
    ),
    (
        "keyward/email",
        "import { email } from \"PKG/email.js\"; globalThis.m = email;",
    ),
    (
        "keyward/password",
        "import { password } from \"PKG/password.js\"; globalThis.m = password;",
    ),
    (
        "keyward/mfa",
        "import { mfa } from \"PKG/mfa.js\"; globalThis.m = mfa;",
    ),
    (
        "keyward/oauth",
        "import { oauth } from \"PKG/oauth.js\"; globalThis.m = oauth;",
    ),
    (
        "keyward/magic-link",
        "import { magicLink } from \"PKG/magic-link.js\"; globalThis.m = magicLink;",
    ),
    (
        "keyward/admin",
        "import { admin } from \"PKG/admin.js\"; globalThis.m = admin;",
    ),
    (
        "keyward/react",
        "import { useAuth, useUser } from \"PKG/react.js\"; globalThis.m = [useAuth, useUser];",
    ),
];

pub(crate) fn measure(pkg: &Path) -> Result<PackageSizes> {
    let dir = root().join("target/bench/size");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let pkg_path = pkg.display().to_string();
    let core = bundled(&dir, "core", &CORE.replace("PKG", &pkg_path))?;
    let mut modules = Vec::new();
    for (name, import) in MODULES {
        let page = [CORE, import].concat().replace("PKG", &pkg_path);
        let with = bundled(&dir, &name.replace('/', "-"), &page)?;
        modules.push((*name, with as i64 - core as i64));
    }
    let files = crate::npm::core_files(pkg)
        .iter()
        .map(|file| crate::npm::sizes(file).1)
        .sum();
    Ok(PackageSizes {
        core,
        files,
        modules,
        breakdown: breakdown(&dir).unwrap_or_else(|message| {
            eprintln!("xtask: no size breakdown: {message}");
            Vec::new()
        }),
    })
}

/// gzip -9 bytes of `source` bundled and minified by esbuild.
fn bundled(dir: &Path, name: &str, source: &str) -> Result<u64> {
    let entry = dir.join(format!("{name}.js"));
    let out = dir.join(format!("{name}.min.js"));
    std::fs::write(&entry, source).map_err(|e| format!("write {}: {e}", entry.display()))?;
    cmd::run(
        Command::new(root().join("node_modules/.bin/esbuild"))
            .arg(&entry)
            .args(["--bundle", "--minify", "--format=esm", "--external:react"])
            .args(["--log-level=warning", "--legal-comments=none"])
            .arg(format!("--outfile={}", out.display())),
    )?;
    cmd::output(
        Command::new("sh")
            .arg("-c")
            .arg(format!("gzip -9 -c '{}' | wc -c", out.display())),
    )
    .and_then(|n| n.parse().ok())
    .ok_or_else(|| "gzip failed".into())
}

/// The core wasm's bytes by Rust module (and the runtime's parts), from twiggy over a copy
/// that keeps its names.
fn breakdown(dir: &Path) -> Result<Vec<(String, u64)>> {
    if cmd::which("twiggy").is_none() {
        cmd::run(Command::new("cargo").args([
            "install",
            "twiggy",
            "--version",
            "0.8.0",
            "--locked",
        ]))?;
    }
    let root = root();
    let wasm = root.join("target/npm/wasm32-unknown-unknown/wasm-release/keyward_client.wasm");
    cmd::run(
        Command::new("wasm-bindgen")
            .args([
                "--target",
                "web",
                "--out-name",
                "named",
                "--omit-default-module-path",
            ])
            .arg("--out-dir")
            .arg(dir)
            .arg(&wasm),
    )?;
    // As the package's wasm is optimised, but with -g: twiggy needs the names.
    let kept = dir.join("named_opt.wasm");
    cmd::run(
        Command::new(root.join("node_modules/.bin/wasm-opt"))
            .args(["-Oz", "-g"])
            .args(crate::npm::WASM_FEATURES)
            .arg(dir.join("named_bg.wasm"))
            .arg("-o")
            .arg(&kept),
    )?;
    let csv = cmd::output(
        Command::new("twiggy")
            .args(["top", "-n", "100000", "--format", "csv"])
            .arg(&kept),
    )
    .ok_or("twiggy failed")?;
    let mut parts: BTreeMap<String, u64> = BTreeMap::new();
    for line in csv.lines().skip(1) {
        let (name, rest) = match line.rsplitn(5, ',').collect::<Vec<_>>().as_slice() {
            [_, _, _, size, name] => (name.trim_matches('"').to_owned(), size.to_string()),
            _ => continue,
        };
        let Ok(size) = rest.parse::<u64>() else {
            continue;
        };
        if name.contains("subsection") || name.starts_with("custom section") {
            continue;
        }
        *parts.entry(part_of(&name)).or_default() += size;
    }
    let mut parts: Vec<_> = parts.into_iter().collect();
    parts.sort_by_key(|part| std::cmp::Reverse(part.1));
    Ok(parts)
}

/// `keyward_client::client::transport::…` → `client::transport`; a dependency → its crate;
/// imports, exports and data by kind.
fn part_of(name: &str) -> String {
    if name.starts_with("import ") {
        return "(JS imports)".into();
    }
    if name.starts_with("export ") || name.contains("externref shim") {
        return "(exports)".into();
    }
    if name.starts_with("data segment") {
        return "(data)".into();
    }
    if name.contains("drop_glue") || name.contains("drop_in_place") {
        return "(drop glue)".into();
    }
    let clean: String = {
        let mut out = String::new();
        let mut skip = false;
        for c in name.chars() {
            match c {
                '[' => skip = true,
                ']' => skip = false,
                _ if !skip => out.push(c),
                _ => {}
            }
        }
        out
    };
    let path = clean.trim_start_matches('<');
    let mut segments = path.split("::");
    match segments.next() {
        Some("keyward_client") => {
            let module: Vec<&str> = segments
                .take_while(|s| s.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
                .take(2)
                .collect();
            format!("keyward_client::{}", module.join("::"))
        }
        Some(krate) if krate.chars().all(|c| c.is_ascii_lowercase() || c == '_') => krate.into(),
        _ => "(other)".into(),
    }
}

/// Prints the sizes (for `cargo xtask npm`).
pub(crate) fn print(pkg: &Path) -> Result {
    let sizes = measure(pkg)?;
    println!(
        "core (bundled, minified, gzip -9): {:.1} KB (budget 35); as shipped: {:.1} KB",
        sizes.core as f64 / 1000.0,
        sizes.files as f64 / 1000.0
    );
    for (module, added) in &sizes.modules {
        println!("{module} adds {:.2} KB", *added as f64 / 1000.0);
    }
    for (part, bytes) in sizes.breakdown.iter().take(20) {
        println!("  {bytes:>7}  {part}");
    }
    Ok(())
}
