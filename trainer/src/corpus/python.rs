//! PyPI wheels and the Python virtual environments in the download cache: pinned wheels
//! downloaded once and checked against their SHA-256; the helper script (music21's melodies,
//! pypinyin's Chinese text) run in its environment.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::Ctx;
use super::packages::{have, run_cmd, sha256_file};
use crate::io;

/// PyPI wheels used by the helper script, pinned with their SHA-256.
const WHEELS: &[(&str, &str, &str)] = &[
    (
        "music21",
        "10.5.1",
        "dc3309498c4c95cebdf8d4f20c868deb6b63bce1d929cad4f51a7ccc982987b1",
    ),
    (
        "pypinyin",
        "0.55.0",
        "d53b1e8ad2cdb815fb2cb604ed3123372f5a28c6f447571244aca36fc62a286f",
    ),
];

pub(super) const HELPER_PY: &str = include_str!("../../../scripts/corpus/helper.py");

#[derive(Debug, Clone, Serialize)]
pub(super) struct Wheel {
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub licence: String,
}

impl Wheel {
    pub fn pinned(name: &str, version: &str, sha256: &str, licence: &str) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            sha256: sha256.into(),
            licence: licence.into(),
        }
    }
}

/// A virtual environment in the download cache holding exactly a list of pinned wheels.
pub(super) struct Venv {
    /// Its folder in the cache.
    pub dir: &'static str,
    /// The cache folder its wheel files are downloaded to.
    pub wheels_dir: &'static str,
    /// What it holds, for the progress line.
    pub holds: &'static str,
    /// The CPython version (`major.minor`) its wheels are built for, if they are.
    pub python_version: Option<&'static str>,
    /// Said when python3 is missing, when `python3 -m venv` fails, when `pip install` fails.
    pub no_python: &'static str,
    pub venv_failed: &'static str,
    pub install_failed: &'static str,
    /// `pip install` options besides `-q` and `--disable-pip-version-check`.
    pub pip_options: &'static [&'static str],
}

impl Venv {
    /// The environment's interpreter.
    pub fn python(&self, cache: &Path) -> PathBuf {
        cache.join(self.dir).join("bin/python")
    }

    /// Creates the environment (unless it is ready with the same wheels), downloads and
    /// checks each wheel, installs them; returns the wheels.
    pub fn ensure(&self, cache: &Path, wheels: Vec<Wheel>) -> Result<Vec<Wheel>> {
        let venv = cache.join(self.dir);
        let py = self.python(cache);
        let wheels_dir = cache.join(self.wheels_dir);
        std::fs::create_dir_all(&wheels_dir)?;
        let marker = venv.join(".mer-ready");
        let want: String = wheels
            .iter()
            .map(|w| format!("{}={} ", w.name, w.sha256))
            .collect();
        let ready = std::fs::read_to_string(&marker).is_ok_and(|s| s == want) && py.is_file();
        if !ready {
            self.create(&venv)?;
        }
        let files = wheels
            .iter()
            .map(|w| fetch_wheel(&py, &wheels_dir, w))
            .collect::<Result<Vec<_>>>()?;
        if !ready {
            run_cmd(
                Command::new(&py)
                    .args(["-m", "pip", "install", "-q"])
                    .args(self.pip_options)
                    .arg("--disable-pip-version-check")
                    .args(&files),
            )
            .context(self.install_failed)?;
            std::fs::write(&marker, want)?;
        }
        Ok(wheels)
    }

    /// A fresh `python3 -m venv` at `venv`.
    fn create(&self, venv: &Path) -> Result<()> {
        if !have("python3") {
            bail!("{}", self.no_python);
        }
        if let Some(want) = self.python_version {
            let v = run_cmd(
                Command::new("python3")
                    .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"]),
            )?;
            if v.trim() != want {
                bail!(
                    "the teacher's pinned wheels are for CPython {want}, but python3 is {}",
                    v.trim()
                );
            }
        }
        let _ = std::fs::remove_dir_all(venv);
        eprintln!("python venv with {}", self.holds);
        run_cmd(Command::new("python3").args(["-m", "venv"]).arg(venv))
            .context(self.venv_failed)?;
        Ok(())
    }
}

/// The helper's environment: music21 and pypinyin.
const HELPER_VENV: Venv = Venv {
    dir: "venv",
    wheels_dir: "wheels",
    holds: "music21 and pypinyin",
    python_version: None,
    no_python: "python3 not found (needed for music21 and pypinyin): install python3 and python3-venv",
    venv_failed: "creating a Python virtual environment (install python3-venv: apt-get install -y python3-venv)",
    install_failed: "installing music21 and pypinyin (and their dependencies) from PyPI",
    pip_options: &[],
};

/// A pinned PyPI wheel's file in `dir` (downloaded with `py -m pip download` unless there),
/// checked against its SHA-256: a mismatch deletes the file and stops with one line.
fn fetch_wheel(py: &Path, dir: &Path, wheel: &Wheel) -> Result<PathBuf> {
    let (name, version, sha) = (&wheel.name, &wheel.version, &wheel.sha256);
    let prefix = format!("{name}-{version}-");
    let found = || -> Option<PathBuf> {
        std::fs::read_dir(dir)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    n.starts_with(&prefix) && n.ends_with(".whl")
                })
            })
    };
    let path = match found() {
        Some(p) => p,
        None => {
            run_cmd(
                Command::new(py)
                    .args(["-m", "pip", "download", "-q", "--no-deps"])
                    .args(["--only-binary", ":all:", "-d"])
                    .arg(dir)
                    .arg(format!("{name}=={version}")),
            )
            .with_context(|| format!("downloading {name} {version} from PyPI"))?;
            found().with_context(|| format!("pip wrote no wheel of {name}"))?
        }
    };
    let sum = sha256_file(&path)?;
    if &sum != sha {
        let _ = std::fs::remove_file(&path);
        bail!("{name} {version}: SHA-256 mismatch: {sum} downloaded, {sha} pinned");
    }
    Ok(path)
}

/// A Python virtual environment in the cache with music21 and pypinyin, installed from
/// wheels downloaded once and checked against pinned SHA-256 values.
pub(super) fn ensure_python(ctx: &Ctx) -> Result<Vec<Wheel>> {
    let wheels = WHEELS
        .iter()
        .map(|(name, version, sha)| {
            let licence = match *name {
                "music21" => "BSD-3-Clause (code and corpus; see music21/corpus/license.txt)",
                _ => "MIT",
            };
            Wheel::pinned(name, version, sha, licence)
        })
        .collect();
    HELPER_VENV.ensure(&ctx.cache, wheels)
}

/// Runs the helper script (`scripts/corpus/helper.py`) in its environment.
pub(super) fn helper(ctx: &Ctx, args: &[&str]) -> Result<()> {
    let script = ctx.cache.join("helper.py");
    if std::fs::read_to_string(&script).ok().as_deref() != Some(HELPER_PY) {
        io::write_atomic(&script, HELPER_PY.as_bytes())?;
    }
    run_cmd(
        Command::new(HELPER_VENV.python(&ctx.cache))
            .env("PYTHONHASHSEED", "0")
            .arg(&script)
            .args(args),
    )?;
    Ok(())
}
