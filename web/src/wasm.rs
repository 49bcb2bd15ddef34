//! JavaScript bindings of the engine (wasm32 only).

use std::cell::RefCell;
use std::rc::Rc;

use burn::prelude::Device;
use js_sys::{Array, Float32Array, Function, Promise};
use mer::audio::Audio;
use mer::model::Classifier;
use mer::{FeatureExtractor, ModelMeta};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

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
    song: RefCell<Option<Song>>,
    model: RefCell<Option<Loaded>>,
    busy: RefCell<bool>,
}

/// One compute device, the current song's spectrogram and the last model loaded.
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
            busy: RefCell::new(false),
        }),
    })
}

/// For each model of `models/index.json` (its JSON text), `null` when this build can use it,
/// else the reason why not; returned as a JSON array.
#[wasm_bindgen(js_name = checkIndex)]
pub fn check_index(index_json: &str) -> Result<String, JsValue> {
    let index: serde_json::Value = serde_json::from_str(index_json)
        .map_err(|e| err(format!("models/index.json is not valid JSON: {e}")))?;
    let models = index
        .get("models")
        .and_then(|m| m.as_array())
        .ok_or_else(|| err("models/index.json has no \"models\" list"))?;
    let verdicts: Vec<Option<String>> = models
        .iter()
        .map(|m| match m.get("meta") {
            Some(meta) => pipeline::check_meta(meta).err(),
            None => Some("no metadata".into()),
        })
        .collect();
    Ok(serde_json::to_string(&verdicts).expect("serialises"))
}

/// The longest song the engine accepts, in seconds.
#[wasm_bindgen(js_name = maxSeconds)]
pub fn max_seconds() -> f64 {
    pipeline::MAX_SECONDS
}

/// Refuses a duration before decoding (the message says why), or returns nothing.
#[wasm_bindgen(js_name = checkDuration)]
pub fn check_duration(seconds: f64) -> Result<(), JsValue> {
    pipeline::check_duration(seconds).map_err(err)
}

#[wasm_bindgen]
impl Engine {
    /// "webgpu" or "cpu".
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.inner.backend.into()
    }

    fn not_busy(&self) -> Result<(), JsValue> {
        if *self.inner.busy.borrow() {
            return Err(err("the engine is busy with another song"));
        }
        Ok(())
    }

    /// Takes a decoded song (one Float32Array per channel) and computes its spectrogram.
    /// Returns `{"seconds": .., "patches": ..}` as JSON.
    #[wasm_bindgen(js_name = setSong)]
    pub fn set_song(&self, channels: Array, sample_rate: u32) -> Result<String, JsValue> {
        self.not_busy()?;
        self.inner.song.replace(None);
        let channels: Vec<Vec<f32>> = channels
            .iter()
            .map(|c| c.dyn_into::<Float32Array>().map(|a| a.to_vec()))
            .collect::<Result<_, _>>()
            .map_err(|_| err("setSong wants an array of Float32Array"))?;
        let audio = Audio {
            sample_rate,
            channels,
        };
        let song = pipeline::prepare_song(&self.inner.fx, audio).map_err(err)?;
        let info = serde_json::json!({"seconds": song.seconds, "patches": song.patches});
        self.inner.song.replace(Some(song));
        Ok(info.to_string())
    }

    /// Forgets the current song (frees its spectrogram).
    #[wasm_bindgen(js_name = clearSong)]
    pub fn clear_song(&self) {
        if !*self.inner.busy.borrow() {
            self.inner.song.replace(None);
        }
    }

    /// The id of the model in memory, if any.
    #[wasm_bindgen(getter, js_name = modelId)]
    pub fn model_id(&self) -> Option<String> {
        self.inner.model.borrow().as_ref().map(|m| m.id.clone())
    }

    /// Checks a model file and makes it the current model. Returns its metadata as JSON.
    #[wasm_bindgen(js_name = loadModel)]
    pub fn load_model(&self, id: String, bytes: &[u8]) -> Result<String, JsValue> {
        self.not_busy()?;
        self.inner.model.replace(None);
        let file = pipeline::check_model(bytes).map_err(err)?;
        let meta: ModelMeta = file.meta.clone();
        let classifier = mer::inference::load_classifier(&file, &self.inner.device)
            .map_err(|e| err(e.to_string()))?;
        self.inner.model.replace(Some(Loaded { id, classifier }));
        Ok(serde_json::to_string(&meta).expect("serialises"))
    }

    /// Runs the current model on the current song. `progress(done, total)` is called after
    /// every batch and may return a Promise; a result of `false` cancels. Resolves to the
    /// song-level prediction (with per-patch segments) as JSON.
    pub fn classify(&self, batch: usize, progress: Function) -> Promise {
        let inner = Rc::clone(&self.inner);
        future_to_promise(async move {
            if inner.song.borrow().is_none() {
                return Err(err("no song"));
            }
            if inner.model.borrow().is_none() {
                return Err(err("no model"));
            }
            if inner.busy.replace(true) {
                return Err(err("the engine is busy with another song"));
            }
            let result = {
                let song = inner.song.borrow();
                let model = inner.model.borrow();
                let (song, model) = (
                    song.as_ref().expect("checked"),
                    model.as_ref().expect("checked"),
                );
                let mut report = |done: usize, total: usize| {
                    let progress = progress.clone();
                    Box::pin(async move {
                        let r = progress
                            .call2(&JsValue::NULL, &done.into(), &total.into())
                            .unwrap_or(JsValue::FALSE);
                        let r = match r.dyn_into::<Promise>() {
                            Ok(p) => JsFuture::from(p).await.unwrap_or(JsValue::FALSE),
                            Err(v) => v,
                        };
                        r.as_bool() != Some(false)
                    })
                        as std::pin::Pin<Box<dyn std::future::Future<Output = bool>>>
                };
                pipeline::classify(
                    &inner.fx,
                    &model.classifier,
                    song,
                    &inner.device,
                    batch,
                    &mut report,
                )
                .await
            };
            inner.busy.replace(false);
            let prediction = result.map_err(err)?;
            Ok(JsValue::from_str(
                &serde_json::to_string(&prediction).expect("serialises"),
            ))
        })
    }
}
