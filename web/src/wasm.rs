//! JavaScript bindings of the engine (wasm32 only). One `Engine` lives in each worker; the
//! page spreads a song's patches over several CPU workers, or gives them all to one WebGPU
//! worker (web/www/app/engine.js). Each export is an operation of the worker, under the same
//! name in the worker (web/www/worker.js) and in the page.

use std::cell::RefCell;
use std::rc::Rc;

use burn::prelude::Device;
use js_sys::{Array, Float32Array, Promise};
use mer::audio::Audio;
use mer::model::Classifier;
use mer::{FeatureExtractor, LogMel};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::pipeline::{self, Song};

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

struct Loaded {
    id: String,
    classifier: Classifier,
}

struct Inner {
    device: Device,
    backend: &'static str,
    fx: FeatureExtractor,
    // Shared with classifications in flight, so that a new song or model can replace them
    // at any time without waiting.
    song: RefCell<Option<Rc<Song>>>,
    model: RefCell<Option<Rc<Loaded>>>,
}

/// One compute device, the current song's spectrogram and the model in memory.
#[wasm_bindgen]
pub struct Engine {
    inner: Rc<Inner>,
}

fn err(msg: impl Into<String>) -> JsValue {
    js_sys::Error::new(&msg.into()).into()
}

/// Creates the engine on WebGPU (`webgpu = true`; fails when burn-wgpu cannot get a device)
/// or on burn's CPU backend.
#[wasm_bindgen(js_name = createEngine)]
pub async fn create_engine(webgpu: bool) -> Result<Engine, JsValue> {
    let (device, backend) = if webgpu {
        let device = Device::wgpu_options()
            .init_async()
            .await
            .map_err(|e| err(format!("WebGPU set-up failed: {e:?}")))?;
        (device, "webgpu")
    } else {
        (Device::flex(), "cpu")
    };
    Ok(Engine {
        inner: Rc::new(Inner {
            device,
            backend,
            fx: FeatureExtractor::default(),
            song: RefCell::new(None),
            model: RefCell::new(None),
        }),
    })
}

/// For each model of `models/index.json` (its JSON text): `why` this build cannot use it
/// (`null`: it can) and its `variant` in the page's words; returned as a JSON array.
#[wasm_bindgen(js_name = checkIndex)]
pub fn check_index(index_json: &str) -> Result<String, JsValue> {
    let entries = pipeline::check_index(index_json).map_err(err)?;
    Ok(serde_json::to_string(&entries).expect("serialises"))
}

/// Q1..Q4 as the page names them (`[{"name", "words", "sign"}]`, JSON), so that the page
/// says what `mer` says.
#[wasm_bindgen]
pub fn quadrants() -> String {
    serde_json::to_string(&pipeline::quadrant_words()).expect("serialises")
}

/// Numbers per patch in the rows `classifyRange` returns and `aggregate` takes.
#[wasm_bindgen(js_name = perPatch)]
pub fn per_patch() -> usize {
    pipeline::PER_PATCH
}

/// The song-level prediction (JSON) from every patch's 8 probabilities, in patch order.
#[wasm_bindgen]
pub fn aggregate(probabilities: Vec<f32>) -> Result<String, JsValue> {
    let p = pipeline::aggregate(&FeatureExtractor::default(), &probabilities).map_err(err)?;
    Ok(serde_json::to_string(&p).expect("serialises"))
}

#[wasm_bindgen]
impl Engine {
    /// "webgpu" or "cpu".
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.inner.backend.into()
    }

    /// Takes a decoded song (one Float32Array per channel) and computes its spectrogram.
    /// Returns `{"seconds", "patches", "frames"}` as JSON.
    #[wasm_bindgen(js_name = setSong)]
    pub fn set_song(&self, channels: Array, sample_rate: u32) -> Result<String, JsValue> {
        self.inner.song.replace(None);
        let channels: Vec<Float32Array> = channels
            .iter()
            .map(|c| c.dyn_into::<Float32Array>())
            .collect::<Result<_, _>>()
            .map_err(|_| err("setSong wants an array of Float32Array"))?;
        let frames = channels.first().map_or(0, |c| c.length());
        // Refuse before copying hours of audio into wasm memory.
        pipeline::check_duration(f64::from(frames) / f64::from(sample_rate.max(1))).map_err(err)?;
        let audio = Audio {
            sample_rate,
            channels: channels.iter().map(Float32Array::to_vec).collect(),
        };
        drop(channels);
        let song = pipeline::prepare_song(&self.inner.fx, audio).map_err(err)?;
        let info = serde_json::json!({
            "seconds": song.seconds,
            "patches": song.patches,
            "frames": song.mel.n_frames,
        });
        self.inner.song.replace(Some(Rc::new(song)));
        Ok(info.to_string())
    }

    /// The current song's log-mel spectrogram ([mel][frame], row-major), for other
    /// workers: one copy, out of wasm memory into a Float32Array the worker can transfer.
    #[wasm_bindgen(js_name = melData)]
    pub fn mel_data(&self) -> Result<Float32Array, JsValue> {
        let song = self.inner.song.borrow();
        let song = song.as_ref().ok_or_else(|| err("no song"))?;
        Ok(Float32Array::from(song.mel.data.as_slice()))
    }

    /// Takes a song's spectrogram computed by another worker. Returns the number of patches.
    #[wasm_bindgen(js_name = setMel)]
    pub fn set_mel(&self, data: Vec<f32>, frames: usize, seconds: f64) -> Result<usize, JsValue> {
        let fx = &self.inner.fx;
        let mel = LogMel {
            n_mels: fx.recipe().n_mels,
            n_frames: frames,
            data,
        };
        let song = Song::from_mel(fx, mel, seconds).map_err(err)?;
        let n = song.patches;
        self.inner.song.replace(Some(Rc::new(song)));
        Ok(n)
    }

    /// Forgets the current song (frees its spectrogram).
    #[wasm_bindgen(js_name = clearSong)]
    pub fn clear_song(&self) {
        self.inner.song.replace(None);
    }

    /// The id of the model in memory, if any.
    #[wasm_bindgen(getter, js_name = modelId)]
    pub fn model_id(&self) -> Option<String> {
        self.inner.model.borrow().as_ref().map(|m| m.id.clone())
    }

    /// Checks a model file (magic, format version, checksum, feature recipe, network) and
    /// makes it the current model. Returns its metadata as JSON.
    #[wasm_bindgen(js_name = loadModel)]
    pub fn load_model(&self, id: String, bytes: &[u8]) -> Result<String, JsValue> {
        self.inner.model.replace(None);
        let file = pipeline::check_model(bytes).map_err(err)?;
        let meta = serde_json::to_string(&file.meta).expect("serialises");
        let classifier = mer::inference::load_classifier(&file, &self.inner.device)
            .map_err(|e| err(e.to_string()))?;
        self.inner
            .model
            .replace(Some(Rc::new(Loaded { id, classifier })));
        Ok(meta)
    }

    /// Runs the current model on patches `start..end` of the current song (one batch).
    /// Resolves to a Float32Array of 8 probabilities per patch: Q1..Q4, P(arousal -),
    /// P(arousal +), P(valence -), P(valence +). GPU results are read asynchronously.
    #[wasm_bindgen(js_name = classifyRange)]
    pub fn classify_range(&self, start: usize, end: usize) -> Promise {
        let inner = Rc::clone(&self.inner);
        let song = inner.song.borrow().clone();
        let model = inner.model.borrow().clone();
        future_to_promise(async move {
            let song = song.ok_or_else(|| err("no song"))?;
            let model = model.ok_or_else(|| err("no model"))?;
            let probs = pipeline::classify_range(
                &inner.fx,
                &model.classifier,
                &song.mel,
                &inner.device,
                start,
                end.min(song.patches),
            )
            .await
            .map_err(err)?;
            Ok(Float32Array::from(probs.as_slice()).into())
        })
    }
}
