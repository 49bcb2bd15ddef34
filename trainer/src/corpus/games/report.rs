//! The CORPORA.md section on the game music: the games' table, the teacher's agreement,
//! where the labels came from, and the teacher's wheels.

use super::STAGE;
use super::clips::SILENCE_DBFS;
use crate::corpus::Ctx;
use crate::corpus::report::counts_text;

/// Minutes of a package's music used by the stage (for the report's sources table).
pub fn package_minutes(stats: &serde_json::Value, package: &str) -> Option<f64> {
    stats
        .get(STAGE)?
        .get("package_minutes")?
        .get(package)?
        .as_f64()
}

fn pct(v: &serde_json::Value) -> String {
    v.as_f64()
        .map_or_else(|| "-".into(), |x| format!("{:.0} %", 100.0 * x))
}

fn num(v: &serde_json::Value) -> String {
    v.as_f64().map_or_else(|| "-".into(), |x| format!("{x:.2}"))
}

fn agreement_cells(a: &serde_json::Value) -> String {
    format!(
        "{} ({}+/{}-) | {} | {}",
        a["clips"],
        a["positive"],
        a["negative"],
        pct(&a["agree"]),
        num(&a["auc"])
    )
}

/// The CORPORA.md section on the game music.
pub fn report(ctx: &Ctx, stats: &serde_json::Value) -> String {
    let s = &stats[STAGE];
    let mut md = String::new();
    md.push_str(&format!(
        "### Real game music labelled from the games' data (music/games)\n\n\
         Recorded soundtracks of Debian's game packages, cut into at most {} clips of 30 s per \
         track (spread evenly over it; stingers shorter than 30 s and at least 5 s long are one \
         clip of their own length), 22.05 kHz mono; clips quieter than {SILENCE_DBFS} dBFS RMS \
         are skipped ({} were). `music/games/annotations.csv` lists every clip; \
         `heldout.csv` holds every clip of the held-out games, 0 A.D. (peace against battle \
         music) and UFO: Alien Invasion (geoscape against battlescape/aircombat playlists), \
         `heldout-0ad.csv` and `heldout-ufoai.csv` each game's, and `train.csv` every other \
         game's; `music/shipped.csv` is `music/both.csv` plus \
         `music/games/train.csv` (the shipped models' training set).\n\n\
         **Labels.** A dimension comes from the game when its data states in which situation \
         a track plays, read from the data files at build time (never from a track's title): \
         UFO:AI's playlists in `ufos/music.ufo` (geoscape: arousal negative; battlescape and \
         aircombat: positive) and the music of its campaign windows `endgame` (valence \
         positive) and `lostgame` (negative) in `ufos/ui/campaign.ufo`; 0 A.D.'s music states \
         (`gui/common/music.js` defaults and `simulation/data/civs/*.json`: peace negative \
         arousal, battle positive, victory positive valence, defeat negative); SuperTuxKart's \
         final-lap versions (`fast-filename` in `data/music/*.music`: positive arousal, their \
         normal versions negative, a within-piece pair) and race results in \
         `data/stk_config.xml` (race-win, gp-win positive valence; race-lose, gp-lose \
         negative); Wesnoth's `default_victory_music` / `default_defeat_music` in \
         `data/game_config.cfg`; Extreme Tux Racer's racing themes `calm` (negative arousal) \
         and `spunky` (positive) and the won/lost race music of `music/racing_themes.lst`; \
         Singularity's `music/win` and `music/lose` folders (checked against the game's code \
         that plays them); Colobot's scenes after a mission, `levels/other/win*.txt` and \
         `lost*.txt`. Where the game says nothing about a dimension, the teacher decides: \
         vibenet 0.1.0's energy (arousal) or valence above 0.5 is positive. Every row names \
         its sources (`ArousalSource`, `ValenceSource`: `game:PACKAGE FILE WHAT` or \
         `teacher:vibenet energy 0.62`) and carries the teacher's two values. Game cues are \
         contexts, not rated emotions: the defensible contrasts are within one game.\n\n\
         | game | split | tracks | clips | per quadrant | minutes | arousal: clips with a game label | teacher agrees | teacher AUC | valence: clips with a game label | teacher agrees | teacher AUC |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
        s["clips_per_track"], s["silent_clips_skipped"]
    ));
    if let Some(games) = s["games"].as_object() {
        for g in games.values() {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {:.1} | {} | {} |\n",
                g["name"].as_str().unwrap_or(""),
                g["split"].as_str().unwrap_or(""),
                g["tracks"],
                g["clips"],
                counts_text(&g["per_quadrant"]),
                g["minutes"].as_f64().unwrap_or(0.0),
                agreement_cells(&g["arousal_agreement"]),
                agreement_cells(&g["valence_agreement"]),
            ));
        }
    }
    md.push_str(&format!(
        "| **all** | | | {} | {} | {:.1} | {} | {} |\n\n",
        s["clips"],
        counts_text(&s["per_quadrant"]),
        s["minutes"].as_f64().unwrap_or(0.0),
        agreement_cells(&s["arousal_agreement"]),
        agreement_cells(&s["valence_agreement"]),
    ));
    md.push_str(&contrasts(s));
    md.push_str(&format!(
        "Label sources over all clips: arousal {} from the game, {} from the teacher; \
         valence {} from the game, {} from the teacher. \"teacher agrees\": how often the \
         teacher's value is on the game's side of 0.5; AUC: how well the teacher's energy \
         (valence) ranks the game's positive clips above its negative ones (0.5 = chance; \
         \"-\" where the game gives one class only).\n\n",
        s["arousal_sources"]["game"],
        s["arousal_sources"]["teacher"],
        s["valence_sources"]["game"],
        s["valence_sources"]["teacher"]
    ));
    md.push_str(&teacher(ctx));
    md.push('\n');
    md
}

/// The teacher's energy AUC for each within-game arousal contrast, if any.
fn contrasts(s: &serde_json::Value) -> String {
    let mut contrasts = Vec::new();
    if let Some(games) = s["games"].as_object() {
        for g in games.values() {
            for c in g["arousal_contrasts"].as_array().into_iter().flatten() {
                contrasts.push(format!(
                    "{}: {} vs {} {} ({}/{} clips)",
                    g["name"].as_str().unwrap_or(""),
                    c["positive"].as_str().unwrap_or(""),
                    c["negative"].as_str().unwrap_or(""),
                    num(&c["auc"]),
                    c["clips"][0],
                    c["clips"][1]
                ));
            }
        }
    }
    if contrasts.is_empty() {
        return String::new();
    }
    format!(
        "Teacher energy AUC for the arousal contrasts within each game (positive usage vs \
         negative usage): {}.\n\n",
        contrasts.join("; ")
    )
}

/// How the teacher runs, and its wheels.
fn teacher(ctx: &Ctx) -> String {
    let mut md = String::from(
        "The teacher, vibenet 0.1.0 (PyPI, GPL-3.0-or-later, its ONNX model bundled in the \
         wheel), runs only while the corpus is built, in its own process and virtual \
         environment (`teacher-venv` in the download cache, exactly these wheels installed \
         with `--no-deps`, SHA-256 pinned; onnxruntime on one thread); its outputs, two \
         numbers per clip, are labels. Its scores are cached by the clip's SHA-256.\n\n\
         | package | version | licence | SHA-256 |\n|---|---|---|---|\n",
    );
    for w in &ctx.teacher_wheels {
        md.push_str(&format!(
            "| {} | {} | {} | `{}` |\n",
            w.name, w.version, w.licence, w.sha256
        ));
    }
    md
}
