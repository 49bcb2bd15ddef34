//! What the worker does with a song, in plain Rust (the same code runs natively in the tests):
//! decoded channels -> `mer::audio::prepare` -> log-mel spectrogram, then the classifier over
//! patches cut from the spectrogram a batch at a time, so that only one batch of patches
//! (about 1 MB) exists at once next to the spectrogram (about 0.25 MB per minute).

use burn::prelude::Device;
use mer::audio::Audio;
use mer::model::Classifier;
use mer::model_file::{Method, ModelFile, TransferMode, Variant};
use mer::{
    FeatureExtractor, LogMel, ModelMeta, PatchProbabilities, Patches, Quadrant, SongPrediction,
};
use serde::Serialize;

/// The longest song the page analyses. A 30-minute stereo file needs about 0.5 GB while
/// its samples are turned into a spectrogram; hours of audio would need gigabytes.
pub const MAX_SECONDS: f64 = 30.0 * 60.0;

/// Below this peak (-80 dBFS) a file counts as silent: normalising it would only amplify
/// noise or dither into a "song".
pub const SILENCE_PEAK: f32 = 1e-4;

/// A song ready for the classifier: its log-mel spectrogram.
pub struct Song {
    pub seconds: f64,
    pub mel: LogMel,
    /// Number of patches (about two per second).
    pub patches: usize,
}

impl Song {
    /// A song from a spectrogram computed elsewhere (another worker).
    pub fn from_mel(fx: &FeatureExtractor, mel: LogMel, seconds: f64) -> Result<Self, String> {
        if mel.n_mels != fx.recipe().n_mels || mel.data.len() != mel.n_mels * mel.n_frames {
            return Err("the spectrogram does not fit the recipe".into());
        }
        Ok(Self {
            seconds,
            patches: fx.recipe().patches(mel.n_frames),
            mel,
        })
    }
}

/// "1 h 05 min", "4 min 03 s", "0.50 s".
/// One of mer's one-line messages as the page writes it: a sentence.
fn sentence(line: &str) -> String {
    let mut chars = line.chars();
    let first = chars.next().map(|c| c.to_uppercase().collect::<String>());
    format!("{}{}.", first.unwrap_or_default(), chars.as_str())
}

pub fn duration_words(seconds: f64) -> String {
    if seconds < 60.0 {
        return format!("{seconds:.2} s");
    }
    let total = seconds.round() as u64;
    let (h, m, s) = (total / 3600, (total / 60) % 60, total % 60);
    if h > 0 {
        format!("{h} h {m:02} min")
    } else {
        format!("{m} min {s:02} s")
    }
}

/// Refuses what the page cannot or should not analyse before any heavy work.
pub fn check_duration(seconds: f64) -> Result<(), String> {
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err("The file holds no audio.".into());
    }
    if seconds > MAX_SECONDS {
        return Err(format!(
            "This recording is {} long; the page analyses songs of up to {} (longer ones \
             would need gigabytes of memory in the browser). Cut the part you want with an \
             audio editor and drop that.",
            duration_words(seconds),
            duration_words(MAX_SECONDS)
        ));
    }
    Ok(())
}

/// Decoded audio -> log-mel spectrogram, with the recipe's own front end
/// (`mer::audio::prepare`: mono mean, resampling if needed, peak normalisation).
pub fn prepare_song(fx: &FeatureExtractor, audio: Audio) -> Result<Song, String> {
    let seconds = audio.seconds();
    check_duration(seconds)?;
    let peak = audio
        .channels
        .iter()
        .flatten()
        .fold(0f32, |m, x| if x.is_finite() { m.max(x.abs()) } else { m });
    let recipe = fx.recipe();
    let samples = mer::audio::prepare(&audio, recipe.sample_rate)
        .map_err(|e| format!("The audio cannot be used: {e}."))?;
    drop(audio);
    recipe
        .check_long_enough(samples.len())
        .map_err(|e| sentence(&e.to_string()))?;
    if peak < SILENCE_PEAK {
        return Err(format!(
            "The file is silent (its loudest sample is {}): there is no music to hear.",
            if peak == 0.0 {
                "exactly 0".to_string()
            } else {
                format!("{:.0} dBFS", 20.0 * peak.log10())
            }
        ));
    }
    let mel = fx.log_mel(&samples);
    let patches = recipe.patches(recipe.frames(samples.len()));
    Ok(Song {
        seconds,
        mel,
        patches,
    })
}

/// Patches `start..end` of a spectrogram, identical to the same rows of
/// `fx.patches_of(mel)` (copied out of the frames they cover).
pub fn patch_range(fx: &FeatureExtractor, mel: &LogMel, start: usize, end: usize) -> Patches {
    let r = fx.recipe();
    let end = end.min(r.patches(mel.n_frames));
    if start >= end {
        return Patches {
            n: 0,
            n_mels: mel.n_mels,
            frames: r.patch_frames,
            data: Vec::new(),
        };
    }
    let f0 = start * r.patch_hop;
    let f1 = (end - 1) * r.patch_hop + r.patch_frames;
    let n_frames = f1 - f0;
    let mut data = Vec::with_capacity(mel.n_mels * n_frames);
    for m in 0..mel.n_mels {
        let row = m * mel.n_frames;
        data.extend_from_slice(&mel.data[row + f0..row + f1]);
    }
    let sub = LogMel {
        n_mels: mel.n_mels,
        n_frames,
        data,
    };
    fx.patches_of(&sub)
}

/// Checks a model file (magic, format version, checksum, feature recipe, architecture).
pub fn check_model(bytes: &[u8]) -> Result<ModelFile, String> {
    ModelFile::from_bytes(bytes).map_err(|e| e.to_string())
}

/// Checks the metadata of a model listed in `models/index.json` before its file is fetched:
/// same feature recipe and network as this build. `Ok` holds nothing; `Err` says why not.
pub fn check_meta(meta: &serde_json::Value) -> Result<(), String> {
    let meta: ModelMeta =
        serde_json::from_value(meta.clone()).map_err(|e| format!("unreadable metadata ({e})"))?;
    meta.check_compatible().map_err(|e| e.to_string())?;
    Ok(())
}

/// A quadrant as the page names it: "Q1", its usual words and the signs of its axes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuadrantWords {
    pub name: &'static str,
    pub words: &'static str,
    /// E.g. "arousal +, valence −".
    pub sign: String,
}

/// Q1..Q4 in the classifier's order, as the page shows them.
pub fn quadrant_words() -> Vec<QuadrantWords> {
    let sign = |positive: bool| if positive { "+" } else { "−" };
    Quadrant::ALL
        .iter()
        .map(|q| QuadrantWords {
            name: q.name(),
            words: q.description(),
            sign: format!(
                "arousal {}, valence {}",
                sign(q.arousal_positive()),
                sign(q.valence_positive())
            ),
        })
        .collect()
}

/// Pretraining languages in the page's order (the last: several, or none).
const LANGUAGES: [(&str, &str); 4] = [
    ("eng", "English"),
    ("man", "Mandarin"),
    ("mix", "English + Mandarin"),
    ("none", "no speech"),
];

/// A model's variant as the page shows it (picker, model line, comparison): the words, the
/// keys (`Method`, `TransferMode`, `Variant::language_label` as serialised) and its rank in
/// the comparison (method, mode, language).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VariantWords {
    pub method: &'static str,
    pub method_key: Method,
    pub language: String,
    pub language_key: String,
    pub mode: &'static str,
    pub mode_key: TransferMode,
    pub rank: [usize; 3],
}

impl VariantWords {
    pub fn of(v: &Variant) -> Self {
        let language_key = v.language_label();
        let language = LANGUAGES.iter().position(|(k, _)| *k == language_key);
        let method = match v.method {
            Method::None => "no pretraining",
            m => m.label(),
        };
        Self {
            method,
            method_key: v.method,
            language: language.map_or_else(|| language_key.clone(), |i| LANGUAGES[i].1.into()),
            language_key,
            mode: v.mode.label(),
            mode_key: v.mode,
            rank: [
                v.method as usize,
                v.mode as usize,
                language.unwrap_or(LANGUAGES.len()),
            ],
        }
    }
}

/// What the page needs of one entry of `models/index.json`: why this build cannot use it
/// (`None`: it can), and its variant in words (`None` when the metadata has none).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexEntry {
    pub why: Option<String>,
    pub variant: Option<VariantWords>,
}

/// Every model of `models/index.json` (its JSON text), checked and described.
pub fn check_index(index_json: &str) -> Result<Vec<IndexEntry>, String> {
    let index: serde_json::Value = serde_json::from_str(index_json)
        .map_err(|e| format!("models/index.json is not valid JSON: {e}"))?;
    let models = index
        .get("models")
        .and_then(|m| m.as_array())
        .ok_or("models/index.json has no \"models\" list")?;
    Ok(models
        .iter()
        .map(|m| match m.get("meta") {
            Some(meta) => IndexEntry {
                why: check_meta(meta).err(),
                variant: meta
                    .get("variant")
                    .and_then(|v| serde_json::from_value::<Variant>(v.clone()).ok())
                    .map(|v| VariantWords::of(&v)),
            },
            None => IndexEntry {
                why: Some("no metadata".into()),
                variant: None,
            },
        })
        .collect())
}

/// Probabilities per patch in the flat layout the worker hands to JavaScript (its width is
/// handed over too: `perPatch`).
pub const PER_PATCH: usize = PatchProbabilities::WIDTH;

/// Runs the classifier on patches `start..end` of a song (one forward pass, so `end - start`
/// is the batch size). Returns [`PER_PATCH`] numbers per patch.
pub async fn classify_range(
    fx: &FeatureExtractor,
    model: &Classifier,
    mel: &LogMel,
    device: &Device,
    start: usize,
    end: usize,
) -> Result<Vec<f32>, String> {
    let patches = patch_range(fx, mel, start, end);
    if patches.n == 0 {
        return Ok(Vec::new());
    }
    let probs = mer::inference::predict_patches(model, &patches, device, patches.n, |_, _| {})
        .await
        .map_err(|e| e.to_string())?;
    Ok(probs.iter().flat_map(PatchProbabilities::row).collect())
}

/// The song-level answer from every patch's [`PER_PATCH`] numbers (in patch order).
pub fn aggregate(fx: &FeatureExtractor, flat: &[f32]) -> Result<SongPrediction, String> {
    if flat.is_empty() || !flat.len().is_multiple_of(PER_PATCH) {
        return Err(format!("{} numbers do not make whole patches", flat.len()));
    }
    let probs: Vec<PatchProbabilities> = flat
        .chunks_exact(PER_PATCH)
        .map(PatchProbabilities::from_row)
        .collect();
    SongPrediction::from_patches(fx.recipe(), &probs).ok_or_else(|| "no patches".to_string())
}

/// Runs the classifier over every patch of a song, `batch` patches at a time (what the page
/// does, spread over its workers).
pub async fn classify(
    fx: &FeatureExtractor,
    model: &Classifier,
    song: &Song,
    device: &Device,
    batch: usize,
) -> Result<SongPrediction, String> {
    let batch = batch.max(1);
    let mut flat = Vec::with_capacity(song.patches * PER_PATCH);
    let mut start = 0;
    while start < song.patches {
        let end = (start + batch).min(song.patches);
        flat.extend(classify_range(fx, model, &song.mel, device, start, end).await?);
        start = end;
    }
    aggregate(fx, &flat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_ranges_equal_whole_patches() {
        let fx = FeatureExtractor::default();
        // 7 s of a chirp-like signal
        let samples: Vec<f32> = (0..16_000 * 7)
            .map(|i| {
                let t = i as f32 / 16_000.0;
                (t * t * 900.0).sin() * 0.5
            })
            .collect();
        let mel = fx.log_mel(&samples);
        let whole = fx.patches_of(&mel);
        assert!(whole.n > 10);
        let mut joined = Vec::new();
        for s in (0..whole.n).step_by(4) {
            let p = patch_range(&fx, &mel, s, s + 4);
            assert_eq!(p.n, (s + 4).min(whole.n) - s);
            joined.extend(p.data);
        }
        assert_eq!(joined, whole.data);
        assert_eq!(patch_range(&fx, &mel, whole.n, whole.n + 3).n, 0);
    }

    #[test]
    fn refuses_bad_input() {
        let fx = FeatureExtractor::default();
        let audio = |rate: u32, seconds: f64, value: f32| Audio {
            sample_rate: rate,
            channels: vec![vec![value; (f64::from(rate) * seconds) as usize]; 2],
        };
        let err = |a| prepare_song(&fx, a).err().unwrap();
        assert!(err(audio(16_000, 0.5, 0.3)).contains("Too short"));
        assert!(err(audio(16_000, 3.0, 0.0)).contains("silent"));
        assert!(err(audio(16_000, 3.0, 1e-6)).contains("-120 dBFS"));
        // 31 minutes at a low rate: refused before any work
        assert!(err(audio(100, 31.0 * 60.0, 0.3)).contains("31 min 00 s long"));
        assert!(err(audio(100, 2.5 * 3600.0, 0.3)).contains("2 h 30 min long"));
        assert!(err(audio(16_000, 0.0, 0.3)).contains("no audio"));
        let mut nan = audio(16_000, 2.0, 0.3);
        nan.channels[1][100] = f32::NAN;
        assert!(err(nan).contains("non-finite"));
        let ok = prepare_song(&fx, audio(16_000, 2.0, 0.3)).unwrap();
        assert_eq!(ok.patches, 3);
    }

    #[test]
    fn page_words() {
        let q = quadrant_words();
        assert_eq!(q.len(), 4);
        assert_eq!((q[1].name, q[1].words), ("Q2", "tense / angry"));
        assert_eq!(q[1].sign, "arousal +, valence −");
        assert_eq!(q[3].sign, "arousal −, valence +");
        let words = VariantWords::of(&mer::model_file::Variant {
            method: Method::Cpc,
            pretrain_languages: vec!["eng".into(), "man".into()],
            mode: TransferMode::FeatExt,
            music: vec![],
        });
        assert_eq!(
            (words.method, words.language.as_str(), words.mode),
            ("CPC", "English + Mandarin", "Feat. Ext.")
        );
        assert_eq!(words.rank, [1, 0, 2]);
        let json = serde_json::to_value(VariantWords::of(&Variant::untrained())).unwrap();
        assert_eq!(json["method"], "no pretraining");
        assert_eq!(json["methodKey"], "none");
        assert_eq!(json["languageKey"], "none");
        assert_eq!(json["modeKey"], "feat-ext");
        let index = serde_json::json!({"models": [
            {"meta": serde_json::to_value(ModelMeta::new(
                Variant::untrained(), mer::model_file::Precision::Int8, "test")).unwrap()},
            {"file": "x"},
        ]});
        let entries = check_index(&index.to_string()).unwrap();
        assert_eq!(entries[0].why, None);
        assert_eq!(entries[0].variant.as_ref().unwrap().mode, "Feat. Ext.");
        assert_eq!(entries[1].why.as_deref(), Some("no metadata"));
        assert!(
            check_index("{}")
                .unwrap_err()
                .contains("no \"models\" list")
        );
    }

    #[test]
    fn meta_checks() {
        let meta = |recipe: mer::FeatureRecipe| ModelMeta {
            recipe,
            ..ModelMeta::new(
                mer::model_file::Variant {
                    method: mer::model_file::Method::Scae,
                    pretrain_languages: vec!["eng".into()],
                    mode: mer::model_file::TransferMode::Full,
                    music: vec![],
                },
                mer::model_file::Precision::Int8,
                "test",
            )
        };
        let good = serde_json::to_value(meta(Default::default())).unwrap();
        assert!(check_meta(&good).is_ok());
        let other = mer::FeatureRecipe {
            n_mels: 96,
            ..Default::default()
        };
        let bad = serde_json::to_value(meta(other)).unwrap();
        assert!(check_meta(&bad).unwrap_err().contains("recipe"));
        assert!(
            check_meta(&serde_json::json!({"x": 1}))
                .unwrap_err()
                .contains("unreadable")
        );
    }
}
