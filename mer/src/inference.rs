//! Classifier weights in and out of model files, and inference on any device.
//!
//! Weights are burnpacks written by burn-store. Loading always happens on burn's CPU
//! backend (flex): quantized weights are dequantized there, then the f32 module moves to the
//! requested device, so WebGPU never sees an int8 tensor and every backend runs the same
//! f32 network. Results are read with `into_data_async`, the only read WebGPU allows.

use burn::module::{Module, ModuleMapper, Param, ParamGroup, Quantizer};
use burn::prelude::*;
use burn::store::{BurnpackStore, HalfPrecisionAdapter, ModuleSnapshot};
use burn::tensor::Bytes;
use burn::tensor::quantization::{Calibration, QuantScheme, QuantValue};

use crate::model::Classifier;
use crate::model_file::{ModelFile, Precision};
use crate::predict::PatchProbabilities;
use crate::{MerError, Patches};

/// Parameters quantized in the int8 form: every convolution and dense weight matrix.
/// Biases and BatchNorm parameters and statistics stay in f16 / f32.
const QUANTIZED_PARAMS: &str = r"\.weight$";

fn store_error(e: impl std::fmt::Display) -> MerError {
    MerError::ModelFile(format!("cannot read the model weights: {e}"))
}

/// The 4-bit weights (`Precision::Q4`) of a classifier, its dense layers rounded with
/// their output error on `calibration` in view ([`crate::packed::encode_calibrated`]).
pub fn encode_q4_calibrated(
    model: &Classifier,
    calibration: &Patches,
) -> Result<Vec<u8>, MerError> {
    crate::packed::encode_calibrated(&cpu_copy(model)?, calibration)
}

fn save(m: &Classifier, half: bool) -> Result<Vec<u8>, MerError> {
    let mut store = BurnpackStore::from_bytes(None);
    if half {
        store = store.with_to_adapter(HalfPrecisionAdapter::new());
    }
    m.save_into(&mut store).map_err(store_error)?;
    Ok(store.get_bytes().map_err(store_error)?.to_vec())
}

/// A copy of the classifier's f32 weights on the CPU: where reading the weights never
/// waits on a GPU, flex stores int8 natively, and quantizing cannot change the caller's
/// module (which shares its BatchNorm statistics with its clones).
fn cpu_copy(model: &Classifier) -> Result<Classifier, MerError> {
    load_weights(&save(model, false)?, Precision::F32, &Device::flex())
}

/// Serialises a classifier's weights at the given precision (4-bit weights rounded to
/// the nearest level).
pub fn encode_weights(model: &Classifier, precision: Precision) -> Result<Vec<u8>, MerError> {
    match precision {
        Precision::F32 => save(model, false),
        Precision::F16 => save(model, true),
        Precision::Q4 => crate::packed::encode(&cpu_copy(model)?),
        Precision::Int8 => {
            let scheme = QuantScheme::default().with_value(QuantValue::Q8S);
            let mut quantizer = Quantizer::new(Calibration::MinMax, scheme);
            let group = ParamGroup::from_regex(QUANTIZED_PARAMS).expect("valid pattern");
            let quantized = cpu_copy(model)?.quantize_weights_group(&mut quantizer, group);
            save(&quantized, true)
        }
    }
}

/// Turns every quantized parameter back into f32.
struct Dequantizer;

impl ModuleMapper for Dequantizer {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| t.dequantize())
    }
}

/// Loads weights on the CPU backend into a fresh classifier.
fn load_weights(bytes: &[u8], precision: Precision, cpu: &Device) -> Result<Classifier, MerError> {
    if precision == Precision::Q4 {
        return crate::packed::decode(bytes, cpu);
    }
    let mut model = Classifier::new(cpu);
    let mut store = BurnpackStore::from_bytes(Some(Bytes::from_bytes_vec(bytes.to_vec())));
    if precision != Precision::F32 {
        store = store.with_from_adapter(HalfPrecisionAdapter::new());
    }
    let result = model.load_from(&mut store).map_err(store_error)?;
    if !result.missing.is_empty() || !result.errors.is_empty() {
        return Err(MerError::ModelFile(format!(
            "the weights do not fit the classifier: missing {:?}, errors {:?}",
            result.missing, result.errors
        )));
    }
    Ok(model)
}

/// The classifier of a model file, in inference mode, on `device`.
pub fn load_classifier(file: &ModelFile, device: &Device) -> Result<Classifier, MerError> {
    let cpu = Device::flex();
    let model = load_weights(&file.weights, file.meta.precision, &cpu)?;
    let model = model.map(&mut Dequantizer);
    Ok(model.valid().to_device(device))
}

/// Patches per forward pass by default: large enough to keep a GPU busy, small enough for
/// bounded memory on long songs.
pub const DEFAULT_BATCH: usize = 64;

/// Runs the classifier on patches in batches; `progress(done, total)` after each batch.
/// Asynchronous only where the device needs it (WebGPU); natively, block on it.
pub async fn predict_patches(
    model: &Classifier,
    patches: &Patches,
    device: &Device,
    batch: usize,
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<PatchProbabilities>, MerError> {
    let batch = batch.max(1);
    let per = patches.n_mels * patches.frames;
    let mut out = Vec::with_capacity(patches.n);
    let read = |t: Tensor<2>| async move {
        t.into_data_async()
            .await
            .map_err(|e| MerError::Inference(format!("cannot read results: {e:?}")))?
            .try_into_vec::<f32>()
            .map_err(|e| MerError::Inference(format!("unexpected result type: {e:?}")))
    };
    let mut start = 0;
    while start < patches.n {
        let end = (start + batch).min(patches.n);
        let b = end - start;
        let data = patches.data[start * per..end * per].to_vec();
        let x = Tensor::<4>::from_data(
            TensorData::new(data, [b, 1, patches.n_mels, patches.frames]),
            device,
        );
        let probs = model.forward(x).probabilities();
        // One read for the three heads: [b, PatchProbabilities::WIDTH].
        let all = read(Tensor::cat(
            vec![probs.quadrant, probs.arousal, probs.valence],
            1,
        ))
        .await?;
        for row in all.chunks_exact(PatchProbabilities::WIDTH) {
            let p = PatchProbabilities::from_row(row);
            if row.iter().any(|x| !x.is_finite()) {
                return Err(MerError::Inference(
                    "the model produced a non-finite probability".into(),
                ));
            }
            out.push(p);
        }
        start = end;
        progress(end, patches.n);
    }
    Ok(out)
}
