//! The 4-bit weight format (`Precision::Q4`): every convolution and dense weight matrix in
//! 4-bit integers with one f16 scale per block of [`BLOCK`] consecutive values (symmetric:
//! the block's largest magnitude maps to 7), every other tensor (biases, BatchNorm) in
//! f32, all deflated. burn 0.22's burnpack stores 4-bit tensors one value per byte, so
//! they would be no smaller than int8; this packs two per byte and lets deflate take what
//! the values' skewed distribution leaves. Loading unpacks to f32 on the CPU.
//!
//! Layout: `MAGIC`, u32 tensor count, u64 payload length, then the deflated payload: per
//! tensor in the module's visiting order, its path (u16 length + UTF-8), kind (0: f32,
//! 1: 4-bit), rank (u8), dimensions (u32 each), then the f32 values, or the f16 scales
//! followed by the nibbles (value + 8, low nibble first).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;

use crate::MerError;
use crate::model::Classifier;

const MAGIC: &[u8; 8] = b"MERQ4\0\0\x01";
/// Values per scale. Measured on a shipped classifier (`mer/tests/networks.rs`): blocks
/// of 32, 64, 128 and 256 give 3.33, 3.20, 3.12 and 3.24 MB (smaller blocks cost scales,
/// larger ones spread the values over more levels), with about the same error.
pub const BLOCK: usize = 128;
/// A payload larger than this is refused before it is inflated (the classifier's is about
/// 27 MB in f32): a hostile file cannot make the loader allocate without bound.
const MAX_PAYLOAD: usize = 64 << 20;

fn bad(msg: impl std::fmt::Display) -> MerError {
    MerError::ModelFile(format!("cannot read the 4-bit weights: {msg}"))
}

/// Whether a tensor is stored in 4 bits: weight matrices and kernels.
fn packs(path: &str, dims: &[usize]) -> bool {
    dims.len() >= 2 && path.ends_with("weight")
}

/// Quantizes one block: (scale, values in -7..=7), the largest magnitude mapped to 7.
/// (Measured against a least-squares choice of scale: that one lowers the error a little
/// but uses the outer levels more often, which deflate then packs worse.)
fn quantize_block(x: &[f32]) -> (half::f16, Vec<i8>) {
    let max = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let scale = half::f16::from_f32(max / 7.0);
    let s = scale.to_f32();
    let q = x
        .iter()
        .map(|v| {
            if s > 0.0 {
                (v / s).round().clamp(-8.0, 7.0) as i8
            } else {
                0
            }
        })
        .collect();
    (scale, q)
}

/// Records each float tensor with its path.
struct Writer {
    path: Vec<String>,
    payload: Vec<u8>,
    count: u32,
    error: Option<MerError>,
}

impl ModuleVisitor for Writer {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let path = self.path.join(".");
        let tensor = param.val();
        let dims = tensor.dims().to_vec();
        let values = match tensor.into_data().convert::<f32>().try_into_vec::<f32>() {
            Ok(v) => v,
            Err(e) => {
                self.error = Some(bad(format!("{path}: {e:?}")));
                return;
            }
        };
        let p = &mut self.payload;
        p.extend_from_slice(&(path.len() as u16).to_le_bytes());
        p.extend_from_slice(path.as_bytes());
        let packed = packs(&path, &dims);
        p.push(u8::from(packed));
        p.push(dims.len() as u8);
        for d in &dims {
            p.extend_from_slice(&(*d as u32).to_le_bytes());
        }
        if packed {
            let mut nibbles = Vec::with_capacity(values.len());
            for block in values.chunks(BLOCK) {
                let (scale, q) = quantize_block(block);
                p.extend_from_slice(&scale.to_bits().to_le_bytes());
                nibbles.extend(q.into_iter().map(|v| (v + 8) as u8));
            }
            p.extend(
                nibbles
                    .chunks(2)
                    .map(|pair| pair[0] | (pair.get(1).copied().unwrap_or(8) << 4)),
            );
        } else {
            for v in values {
                p.extend_from_slice(&v.to_le_bytes());
            }
        }
        self.count += 1;
    }
}

/// Packs a classifier's weights (computed on the CPU).
pub fn encode(model: &Classifier) -> Result<Vec<u8>, MerError> {
    let mut w = Writer {
        path: Vec::new(),
        payload: Vec::new(),
        count: 0,
        error: None,
    };
    model.visit(&mut w);
    if let Some(e) = w.error {
        return Err(e);
    }
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&w.count.to_le_bytes());
    out.extend_from_slice(&(w.payload.len() as u64).to_le_bytes());
    out.extend(miniz_oxide::deflate::compress_to_vec(&w.payload, 9));
    Ok(out)
}

/// A cursor over the payload that refuses to read past its end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MerError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| bad("the payload ends early"))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, MerError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, MerError> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }

    fn u32(&mut self) -> Result<u32, MerError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
}

/// Puts each stored tensor into the fresh classifier's parameter of the same path.
struct Loader<'a> {
    path: Vec<String>,
    reader: Reader<'a>,
    /// The classifier's float tensors visited.
    tensors: u32,
    error: Option<MerError>,
}

impl Loader<'_> {
    fn next_tensor(&mut self, want_path: &str, want_dims: &[usize]) -> Result<Vec<f32>, MerError> {
        let r = &mut self.reader;
        let len = usize::from(r.u16()?);
        let path = String::from_utf8_lossy(r.take(len)?).into_owned();
        if path != want_path {
            return Err(bad(format!("found {path:?} where {want_path:?} belongs")));
        }
        let packed = match r.u8()? {
            0 => false,
            1 => true,
            k => return Err(bad(format!("{path}: unknown kind {k}"))),
        };
        let rank = usize::from(r.u8()?);
        let dims = (0..rank)
            .map(|_| r.u32().map(|d| d as usize))
            .collect::<Result<Vec<_>, _>>()?;
        if dims != want_dims || packed != packs(&path, &dims) {
            return Err(bad(format!(
                "{path}: shape {dims:?} where the classifier has {want_dims:?}"
            )));
        }
        let n: usize = dims.iter().product();
        if packed {
            let blocks = n.div_ceil(BLOCK);
            let scales: Vec<f32> = r
                .take(blocks * 2)?
                .chunks_exact(2)
                .map(|b| half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32())
                .collect();
            let nibbles = r.take(n.div_ceil(2))?;
            Ok((0..n)
                .map(|i| {
                    let byte = nibbles[i / 2];
                    let q = if i % 2 == 0 { byte & 15 } else { byte >> 4 };
                    (f32::from(q) - 8.0) * scales[i / BLOCK]
                })
                .collect())
        } else {
            Ok(r.take(n * 4)?
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect())
        }
    }
}

impl ModuleMapper for Loader<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        self.tensors += 1;
        if self.error.is_some() {
            return param;
        }
        let path = self.path.join(".");
        let dims: [usize; D] = param.val().dims();
        match self.next_tensor(&path, &dims) {
            Ok(values) => param.map(|t| {
                let device = t.device();
                Tensor::from_data(TensorData::new(values, dims), &device)
            }),
            Err(e) => {
                self.error = Some(e);
                param
            }
        }
    }
}

/// Unpacks 4-bit weights into a fresh classifier on `cpu`.
pub fn decode(bytes: &[u8], cpu: &Device) -> Result<Classifier, MerError> {
    if bytes.len() < 20 || &bytes[..8] != MAGIC {
        return Err(bad("not a 4-bit weight block"));
    }
    let count = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let len = usize::try_from(len)
        .ok()
        .filter(|&l| l <= MAX_PAYLOAD)
        .ok_or_else(|| bad(format!("a payload of {len} bytes")))?;
    let payload = miniz_oxide::inflate::decompress_to_vec_with_limit(&bytes[20..], len)
        .map_err(|e| bad(format!("damaged ({e})")))?;
    if payload.len() != len {
        return Err(bad("the payload's length is not the one stated"));
    }
    let model = Classifier::new(cpu);
    let mut loader = Loader {
        path: Vec::new(),
        reader: Reader {
            bytes: &payload,
            at: 0,
        },
        tensors: 0,
        error: None,
    };
    let model = model.map(&mut loader);
    if let Some(e) = loader.error {
        return Err(e);
    }
    if loader.tensors != count || loader.reader.at != payload.len() {
        return Err(bad("the stored tensors are not the classifier's"));
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_to_the_nearest_of_fifteen_levels() {
        let x = [0.7, -0.35, 0.0, 0.1, -0.7];
        let (scale, q) = quantize_block(&x);
        assert!((scale.to_f32() - 0.1).abs() < 1e-4);
        assert_eq!(q, vec![7, -4, 0, 1, -7]);
        let (scale, q) = quantize_block(&[0.0; 4]);
        assert_eq!((scale.to_f32(), q), (0.0, vec![0; 4]));
    }
}
