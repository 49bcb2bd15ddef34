//! Debian packages: fetched with `apt-get download` into the download cache, checked
//! against the SHA-256 of the (signed) apt index, extracted with `dpkg-deb -x`; their
//! licences; the text-to-speech tools installed with apt; and running external commands.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Ctx;

/// Debian packages installed as tools (text-to-speech).
const TOOL_PACKAGES: &[&str] = &[
    "espeak-ng",
    "festival",
    "festvox-us-slt-hts",
    "festvox-kallpc16k",
];

/// Never used: kept aside for independent evaluation.
pub(super) const HELD_OUT: &[&str] = &["naev-data", "flare-game"];

/// A downloaded, verified and extracted Debian package.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Deb {
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub size: u64,
    pub licence: String,
    /// Where it is extracted (not written to the report).
    #[serde(skip)]
    pub root: PathBuf,
}

impl Deb {
    /// A path in the extracted package (`usr/share/...`).
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// The package's Debian copyright file, in its extracted tree.
    pub fn copyright(&self) -> PathBuf {
        copyright_file(&self.root, &self.name)
    }
}

/// Where a package's copyright file lies under `root` (`/` for an installed package).
fn copyright_file(root: &Path, name: &str) -> PathBuf {
    root.join("usr/share/doc").join(name).join("copyright")
}

/// A tool package installed through apt.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Tool {
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub licence: String,
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex(&h.finalize()))
}

/// Runs a command; on failure, one line naming it and the last line it printed.
pub(super) fn run_cmd(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}").replace('"', "");
    let o = cmd
        .output()
        .with_context(|| format!("cannot run {shown}"))?;
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        let out = String::from_utf8_lossy(&o.stdout);
        let last = err
            .lines()
            .chain(out.lines())
            .rfind(|l| !l.trim().is_empty() && !l.starts_with("W: "))
            .unwrap_or("no output")
            .trim()
            .to_string();
        let shown: String = shown.chars().take(160).collect();
        bail!("{shown} failed ({}): {last}", o.status);
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

pub(super) fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn apt_update(ctx: &mut Ctx) -> Result<()> {
    if ctx.apt_updated {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "the apt package lists are missing or stale and updating them needs root: run `apt-get update` as root"
        );
    }
    eprintln!("apt-get update");
    run_cmd(Command::new("apt-get").args(["update", "-qq"]))
        .context("apt-get update (the Debian package registry must be reachable)")?;
    ctx.apt_updated = true;
    Ok(())
}

/// One apt-cache record of a package: its candidate version's fields.
fn apt_show(ctx: &mut Ctx, name: &str) -> Result<BTreeMap<String, String>> {
    if !have("apt-cache") {
        bail!("{name}: apt-cache not found: `trainer corpus demo` needs a Debian system (apt)");
    }
    for attempt in 0..2 {
        let o = Command::new("apt-cache")
            .args(["show", "--no-all-versions", name])
            .output()
            .context("cannot run apt-cache")?;
        let text = String::from_utf8_lossy(&o.stdout);
        let mut fields = BTreeMap::new();
        for line in text.lines() {
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && !k.starts_with(' ')
            {
                fields.insert(k.to_string(), v.trim().to_string());
            }
        }
        if o.status.success() && fields.contains_key("SHA256") && fields.contains_key("Filename") {
            return Ok(fields);
        }
        if attempt == 0 {
            apt_update(ctx)?;
        }
    }
    bail!("{name}: no such package in the apt index (after apt-get update)")
}

/// Downloads a Debian package into the cache (unless there), checks its SHA-256 against
/// the apt index and extracts it.
pub(super) fn fetch_deb(ctx: &mut Ctx, name: &str) -> Result<Deb> {
    if HELD_OUT.contains(&name) {
        bail!("{name} is kept aside for independent evaluation and must not be used");
    }
    let fields = apt_show(ctx, name)?;
    let version = fields["Version"].clone();
    let expected = fields["SHA256"].to_ascii_lowercase();
    let size: u64 = fields.get("Size").and_then(|s| s.parse().ok()).unwrap_or(0);
    let file_name = Path::new(&fields["Filename"])
        .file_name()
        .context("bad Filename field")?
        .to_string_lossy()
        .into_owned();
    let debs = ctx.cache.join("debs");
    std::fs::create_dir_all(&debs)?;
    let deb_path = debs.join(&file_name);
    let ok = deb_path.is_file() && sha256_file(&deb_path)? == expected;
    if !ok {
        eprintln!("download {name} {version} ({:.1} MB)", size as f64 / 1e6);
        download_deb(ctx, name, &version, &expected, &deb_path)?;
    }
    let root = ctx.cache.join("pkgs").join(format!("{name}_{version}"));
    extract_deb(ctx, name, &deb_path, &expected, &root)?;
    let licence = licence_of(&copyright_file(&root, name));
    Ok(Deb {
        name: name.into(),
        version,
        sha256: expected,
        size,
        licence,
        root,
    })
}

/// `apt-get download` of a package's version into a scratch folder, checked against the
/// SHA-256 `expected` and moved to `deb_path`.
fn download_deb(
    ctx: &mut Ctx,
    name: &str,
    version: &str,
    expected: &str,
    deb_path: &Path,
) -> Result<()> {
    let debs = deb_path.parent().context("no cache folder")?;
    let tmp = debs.join(format!(".tmp-{name}"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let download = |package: &str| {
        run_cmd(
            Command::new("apt-get")
                .current_dir(&tmp)
                .args(["-o", "APT::Sandbox::User=root", "download", "-q"])
                .arg(package),
        )
    };
    download(&format!("{name}={version}"))
        .or_else(|e| {
            // The index may be stale (a version the mirror no longer has).
            if ctx.apt_updated {
                return Err(e);
            }
            apt_update(ctx)?;
            download(name)
        })
        .with_context(|| format!("downloading the Debian package {name}"))?;
    let got = std::fs::read_dir(&tmp)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .with_context(|| format!("apt-get download {name} wrote no .deb"))?;
    let sum = sha256_file(&got)?;
    if sum != expected {
        bail!("{name}: SHA-256 mismatch: {sum} downloaded, {expected} in the apt index");
    }
    std::fs::rename(&got, deb_path)?;
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

/// Extracts a package into `root` once (a `.extracted` file marks a finished extraction).
fn extract_deb(ctx: &Ctx, name: &str, deb_path: &Path, sha256: &str, root: &Path) -> Result<()> {
    let done = root.join(".extracted");
    if done.is_file() {
        return Ok(());
    }
    let tmp = ctx.cache.join("pkgs").join(format!(".tmp-{name}"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    run_cmd(Command::new("dpkg-deb").arg("-x").arg(deb_path).arg(&tmp))
        .with_context(|| format!("extracting {name}"))?;
    let _ = std::fs::remove_dir_all(root);
    std::fs::rename(&tmp, root)?;
    std::fs::write(&done, sha256)?;
    Ok(())
}

/// The licences named in a Debian copyright file (the `License:` fields of DEP-5, or the
/// first licence name found in free text).
fn licence_of(copyright: &Path) -> String {
    let Ok(text) = std::fs::read_to_string(copyright) else {
        return "unknown (no copyright file)".into();
    };
    let mut found: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(l) = line.strip_prefix("License:") {
            let l = l.trim().to_string();
            if !l.is_empty() && !found.contains(&l) {
                found.push(l);
            }
        }
    }
    if found.is_empty() {
        // Free-text copyright files: the licences they name, most specific first.
        for (needle, name) in [
            ("GNU General Public License version 2", "GPL-2"),
            ("either version 2 of the License, or", "GPL-2+"),
            ("either version 3 of the License, or", "GPL-3+"),
            ("Lesser General Public", "LGPL"),
            ("Library General Public", "LGPL-2"),
            ("/usr/share/common-licenses/GPL-2", "GPL-2"),
            ("/usr/share/common-licenses/GPL-3", "GPL-3"),
            ("Creative Commons Attribution-ShareAlike", "CC-BY-SA"),
            ("CC-BY-SA", "CC-BY-SA"),
            ("Creative Commons Attribution", "CC-BY"),
            (
                "Permission is hereby granted, free of charge",
                "permissive (free use and distribution with notice)",
            ),
            ("public domain", "public domain (parts)"),
        ] {
            if text.contains(needle) && !found.iter().any(|f| f == name) {
                found.push(name.to_string());
            }
        }
    }
    if found.is_empty() {
        "see /usr/share/doc/.../copyright".into()
    } else {
        found.join("; ")
    }
}

/// espeak-ng and festival with its voices: installed with apt-get when missing (as root).
pub(super) fn ensure_tools(ctx: &mut Ctx) -> Result<Vec<Tool>> {
    let installed = |p: &str| {
        Command::new("dpkg-query")
            .args(["-W", "-f", "${Status} ${Version}", p])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .filter(|s| s.starts_with("install ok installed"))
            .map(|s| s.rsplit(' ').next().unwrap_or("").to_string())
    };
    let missing: Vec<&str> = TOOL_PACKAGES
        .iter()
        .copied()
        .filter(|p| installed(p).is_none())
        .collect();
    if !missing.is_empty() {
        if !is_root() {
            bail!(
                "missing text-to-speech packages: run `apt-get install -y {}` as root",
                missing.join(" ")
            );
        }
        apt_update(ctx)?;
        eprintln!("apt-get install {}", missing.join(" "));
        run_cmd(
            Command::new("apt-get")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .args(["install", "-y", "-q", "--no-install-recommends"])
                .args(&missing),
        )
        .context("installing the text-to-speech tools")?;
    }
    for prog in ["espeak-ng", "text2wave"] {
        if !have(prog) {
            bail!(
                "{prog} not found after installing {}",
                TOOL_PACKAGES.join(", ")
            );
        }
    }
    let mut tools = Vec::new();
    for &p in TOOL_PACKAGES {
        let version = installed(p).context(format!("{p} is not installed"))?;
        let sha256 = apt_show(ctx, p)
            .ok()
            .filter(|f| f.get("Version") == Some(&version))
            .and_then(|f| f.get("SHA256").cloned())
            .unwrap_or_else(|| "(installed version not in the apt index)".into());
        tools.push(Tool {
            name: p.into(),
            version,
            sha256,
            licence: licence_of(&copyright_file(Path::new("/"), p)),
        });
    }
    Ok(tools)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licences_from_dep5() {
        let text = "Files: *\nLicense: GPL-2+\n\nFiles: a\nLicense: CC-BY-3\n\nFiles: b\nLicense: GPL-2+\n";
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("copyright");
        std::fs::write(&p, text).unwrap();
        assert_eq!(licence_of(&p), "GPL-2+; CC-BY-3");
    }
}
