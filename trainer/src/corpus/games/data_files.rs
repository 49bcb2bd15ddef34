//! Parsers of the games' data files: UFO:AI scripts, 0 A.D.'s music states, XML
//! attributes (SuperTuxKart), Extreme Tux Racer's lists, Colobot levels, Wesnoth WML, and
//! the per-file licences of DEP-5 copyright files.

use std::collections::BTreeMap;

use anyhow::Result;

/// UFO:AI `.ufo` script: the named playlists `music NAME ( "track" ... )`; `//` starts a
/// comment (a commented-out track is not played).
pub(super) fn ufo_playlists(text: &str) -> Vec<(String, Vec<String>)> {
    let mut tokens = Vec::new();
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("");
        let mut rest = line;
        while let Some(c) = rest.chars().next() {
            if c.is_whitespace() {
                rest = &rest[c.len_utf8()..];
            } else if c == '(' || c == ')' {
                tokens.push(c.to_string());
                rest = &rest[1..];
            } else if c == '"' {
                let end = rest[1..].find('"').map_or(rest.len(), |i| i + 1);
                tokens.push(format!("\"{}", &rest[1..end]));
                rest = rest.get(end + 1..).unwrap_or("");
            } else {
                let end = rest
                    .find(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == '"')
                    .unwrap_or(rest.len());
                tokens.push(rest[..end].to_string());
                rest = &rest[end..];
            }
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i + 2 < tokens.len() {
        if tokens[i] == "music" && tokens[i + 2] == "(" {
            let name = tokens[i + 1].clone();
            let mut tracks = Vec::new();
            let mut j = i + 3;
            while j < tokens.len() && tokens[j] != ")" {
                if let Some(t) = tokens[j].strip_prefix('"') {
                    tracks.push(t.to_string());
                }
                j += 1;
            }
            out.push((name, tracks));
            i = j;
        }
        i += 1;
    }
    out
}

/// UFO:AI UI script: `(window, track)` for every `snd_music TRACK` inside a `window NAME`.
pub(super) fn ufo_window_music(text: &str) -> Vec<(String, String)> {
    let mut window = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        if let Some(rest) = code.strip_prefix("window ") {
            window = rest
                .split_whitespace()
                .next()
                .unwrap_or("")
                .trim_end_matches('{')
                .to_string();
        }
        let mut rest = code;
        while let Some(i) = rest.find("snd_music ") {
            rest = &rest[i + "snd_music ".len()..];
            let name: String = rest
                .trim_start()
                .chars()
                .take_while(|c| !matches!(c, ';' | '"') && !c.is_whitespace())
                .collect();
            if !name.is_empty() {
                out.push((window.clone(), name));
            }
        }
    }
    out
}

/// 0 A.D. `gui/common/music.js`: the default track lists per state
/// (`Music.prototype.DEFAULT_BATTLE_TRACKS = ["Taiko_1.ogg", ...];`).
pub(super) fn zero_ad_defaults(js: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut rest = js;
    while let Some(i) = rest.find("DEFAULT_") {
        rest = &rest[i + "DEFAULT_".len()..];
        let state = rest.split("_TRACKS").next().unwrap_or("");
        if state.is_empty() || !state.chars().all(|c| c.is_ascii_uppercase()) {
            continue;
        }
        let after = &rest[state.len() + "_TRACKS".len()..];
        let Some(body) = after.trim_start().strip_prefix('=') else {
            continue;
        };
        let body = &body[..body.find(';').unwrap_or(body.len())];
        let tracks: Vec<String> = body
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| s.ends_with(".ogg"))
            .map(String::from)
            .collect();
        out.push((state.to_ascii_lowercase(), tracks));
    }
    out
}

/// 0 A.D. `simulation/data/civs/CIV.json`: `"Music": [{"File": ..., "Type": ...}]`.
pub(super) fn zero_ad_civ_music(json_text: &str) -> Result<Vec<(String, String)>> {
    let v: serde_json::Value = serde_json::from_str(json_text)?;
    Ok(v.get("Music")
        .and_then(|m| m.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|m| {
                    Some((
                        m.get("File")?.as_str()?.to_string(),
                        m.get("Type")?.as_str()?.to_ascii_lowercase(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default())
}

/// The `key = "value"` attributes of the first `<TAG ...>` element in `xml` that has
/// attribute `must` (any element of that tag if `must` is empty).
pub(super) fn xml_attrs(xml: &str, tag: &str, must: &str) -> Option<BTreeMap<String, String>> {
    let open = format!("<{tag}");
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        if !rest.starts_with(|c: char| c.is_whitespace() || c == '/' || c == '>') {
            continue;
        }
        let body = &rest[..rest.find('>').unwrap_or(rest.len())];
        let mut attrs = BTreeMap::new();
        let mut b = body;
        while let Some(eq) = b.find('=') {
            let key = b[..eq]
                .trim()
                .rsplit(char::is_whitespace)
                .next()
                .unwrap_or("")
                .to_string();
            let after = b[eq + 1..].trim_start();
            let Some(q) = after.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                break;
            };
            let close = after[1..].find(q).map_or(after.len(), |j| j + 1);
            attrs.insert(key, after[1..close].to_string());
            b = after.get(close + 1..).unwrap_or("");
        }
        if must.is_empty() || attrs.contains_key(must) {
            return Some(attrs);
        }
    }
    None
}

/// Extreme Tux Racer's `.lst` files: one record per `*` line, `[key] value` fields.
pub(super) fn etr_records(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(line) = line.trim().strip_prefix('*') else {
            continue;
        };
        let mut rec = BTreeMap::new();
        for part in line.split('[').skip(1) {
            if let Some((k, v)) = part.split_once(']') {
                rec.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
        out.push(rec);
    }
    out
}

/// Colobot level file: the music it plays (`Audio filename="music011.ogg" ...`).
pub(super) fn colobot_audio(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let l = l.split("//").next()?.trim();
        let rest = l.strip_prefix("Audio")?;
        if !rest.starts_with(char::is_whitespace) {
            return None;
        }
        let i = rest.find("filename=\"")? + "filename=\"".len();
        let end = rest[i..].find('"')?;
        Some(rest[i..i + end].to_string())
    })
}

/// Wesnoth WML: the comma-separated values of `key="a,b"` at the top level of a file.
pub(super) fn wml_list(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.trim().split_once('=')?;
            (k.trim() == key).then(|| {
                v.trim()
                    .trim_matches('"')
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
            })
        })
        .flatten()
        .collect()
}

/// The licence of one file from a DEP-5 copyright file (the last `Files:` paragraph whose
/// patterns match `path`), if the file is DEP-5.
pub(super) fn dep5_licence(text: &str, path: &str) -> Option<String> {
    let mut found = None;
    for para in text.split("\n\n") {
        let mut files = Vec::new();
        let mut licence = None;
        let mut in_files = false;
        for line in para.lines() {
            if let Some(f) = line.strip_prefix("Files:") {
                in_files = true;
                files.extend(f.split_whitespace().map(String::from));
            } else if in_files && line.starts_with([' ', '\t']) {
                files.extend(line.split_whitespace().map(String::from));
            } else {
                in_files = false;
                if let Some(l) = line.strip_prefix("License:") {
                    licence = Some(l.trim().to_string());
                }
            }
        }
        if let Some(l) = licence
            && !l.is_empty()
            && files.iter().any(|p| glob(p, path))
        {
            found = Some(l);
        }
    }
    found
}

/// DEP-5 patterns: `*` matches any run of characters (slashes too), `?` one character.
fn glob(pattern: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), s.chars().collect());
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ufo_playlists_skip_commented_tracks() {
        let text = "music main\n(\n\t\"van_theme\"\n)\n\nmusic geoscape\n(\n//\t\"azrael1\"\n\t\"Crystan-Geosphere02\"\n\t\"dbsea\"\n)\n\nmusic aircombat\n(\n//\t\"alBasrahM\"\n\t\"David01\"\n)\n";
        assert_eq!(
            ufo_playlists(text),
            vec![
                ("main".into(), vec!["van_theme".into()]),
                (
                    "geoscape".into(),
                    vec!["Crystan-Geosphere02".into(), "dbsea".into()]
                ),
                ("aircombat".into(), vec!["David01".into()]),
            ]
        );
    }

    #[test]
    fn ufo_windows_name_their_music() {
        let text = "window lostgame\n{\n\t{\n\t\tbackground\t\"background/losegame_bg\"\n\t}\n\tfunc onWindowOpened {\n\t\tcmd \"music_stop;snd_music Crystan-LooseGame;\"\n\t}\n}\n\n// snd_music Commented\nwindow endgame\n{\n\tfunc onWindowOpened {\n\t\tcmd \"music_stop;snd_music Crystan-WinGame;\"\n\t}\n}\n";
        assert_eq!(
            ufo_window_music(text),
            vec![
                ("lostgame".into(), "Crystan-LooseGame".into()),
                ("endgame".into(), "Crystan-WinGame".into())
            ]
        );
    }

    #[test]
    fn zero_ad_music_states() {
        let js = "Music.prototype.DEFAULT_MENU_TRACKS = [\"Honor_Bound.ogg\"].concat(shuffleArray([\n\t\"Calm_Before_the_Storm.ogg\"\n]));\n\nMusic.prototype.DEFAULT_BATTLE_TRACKS = [\n\t\"Taiko_1.ogg\",\n\t\"Taiko_2.ogg\"\n];\n\nMusic.prototype.DEFAULT_VICTORY_TRACKS = [\n\t\"You_are_Victorious!.ogg\"\n];\nMusic.prototype.DEFAULT_CUSTOM_TRACKS = [];\n";
        let d = zero_ad_defaults(js);
        assert_eq!(
            d,
            vec![
                (
                    "menu".into(),
                    vec!["Honor_Bound.ogg".into(), "Calm_Before_the_Storm.ogg".into()]
                ),
                (
                    "battle".into(),
                    vec!["Taiko_1.ogg".into(), "Taiko_2.ogg".into()]
                ),
                ("victory".into(), vec!["You_are_Victorious!.ogg".into()]),
                ("custom".into(), vec![]),
            ]
        );
        let civ = "{\n\t\"Code\": \"athen\",\n\t\"Music\": [\n\t\t{\n\t\t\t\"File\": \"Harvest_Festival.ogg\",\n\t\t\t\"Type\": \"peace\"\n\t\t}\n\t],\n\t\"CivBonuses\": []\n}";
        assert_eq!(
            zero_ad_civ_music(civ).unwrap(),
            vec![("Harvest_Festival.ogg".into(), "peace".into())]
        );
    }

    #[test]
    fn supertuxkart_xml() {
        let music = "<?xml version=\"1.0\"?>\n<music title    = \"Scottish bagpipes\"\n       composer = \"Ozoneone and Krobonil\"\n       file     = \"celtic.ogg\"\n       fast     = \"true\"\n       fast-filename = \"celtic_fast.ogg\"\n       gain     = \"0.95\"/>\n";
        let a = xml_attrs(music, "music", "file").unwrap();
        assert_eq!(a["file"], "celtic.ogg");
        assert_eq!(a["fast-filename"], "celtic_fast.ogg");
        let cfg = "<config>\n  <music-volume value=\"1\"/>\n  <!-- race-win: Plays when a player finishes in 1st place. -->\n  <music title=\"main_theme.music\"\n         default=\"kart_grand_prix.music\"\n         race-win=\"race_win_theme.music\"\n         race-lose=\"lose_theme.music\"\n         gp-win=\"win_theme.music\"/>\n</config>";
        let r = xml_attrs(cfg, "music", "race-win").unwrap();
        assert_eq!(r["race-lose"], "lose_theme.music");
        assert_eq!(r["gp-win"], "win_theme.music");
        assert!(xml_attrs(cfg, "music", "nothing").is_none());
    }

    #[test]
    fn etr_lists() {
        let text = "# The first entry is the default theme.\n\n*[name] normal [race] race_1 [wonrace] wonrace_1 [lostrace] lostrace_1\n*[name] calm [race] calmrace [wonrace] wonrace_1 [lostrace] lostrace_1\n";
        let r = etr_records(text);
        assert_eq!(r.len(), 2);
        assert_eq!(r[1]["name"], "calm");
        assert_eq!(r[1]["race"], "calmrace");
        let m = etr_records("*[name] calmrace [file] calmrace-ks.ogg");
        assert_eq!(m[0]["file"], "calmrace-ks.ogg");
    }

    #[test]
    fn colobot_and_wesnoth() {
        let level = "// a comment\nAudio         filename=\"music011.ogg\" repeat=0\nAmbientColor  air=0.471;0.353;0.000;0.000\n";
        assert_eq!(colobot_audio(level).as_deref(), Some("music011.ogg"));
        assert_eq!(
            colobot_audio("AudioChange tool=Shooter filename=\"x.ogg\""),
            None
        );
        let cfg = "[game_config]\n    title_music=\"return_to_wesnoth.ogg\"\n    default_victory_music=\"victory.ogg,victory2.ogg\"\n    default_defeat_music=\"defeat.ogg,defeat2.ogg\"\n";
        assert_eq!(
            wml_list(cfg, "default_victory_music"),
            ["victory.ogg", "victory2.ogg"]
        );
        assert_eq!(
            wml_list(cfg, "default_defeat_music"),
            ["defeat.ogg", "defeat2.ogg"]
        );
    }

    #[test]
    fn dep5_per_file() {
        let text = "Files: *\nCopyright: x\nLicense: GPL-2+\n\nFiles:\n base/music/David01.ogg\n base/music/van_*.ogg\nCopyright: y\nLicense: CC-BY-3.0\n Some text.\n";
        assert_eq!(
            dep5_licence(text, "base/music/David01.ogg").unwrap(),
            "CC-BY-3.0"
        );
        assert_eq!(
            dep5_licence(text, "base/music/van_theme.ogg").unwrap(),
            "CC-BY-3.0"
        );
        assert_eq!(dep5_licence(text, "base/music/ufo1.ogg").unwrap(), "GPL-2+");
        assert!(dep5_licence("free text", "a").is_none());
    }
}
