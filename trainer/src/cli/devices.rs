//! Where the trainer computes: the `--device` choice (CPU, wgpu, CUDA), the devices it
//! names (a build without wgpu or CUDA says so), and `--device`/`--devices` of the training
//! commands.

use anyhow::{Result, bail};
use burn::prelude::*;
use clap::ValueEnum;

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceArg {
    /// burn's flex CPU backend
    Cpu,
    /// burn-wgpu (Vulkan, Metal or DirectX natively; Mesa's lavapipe without a GPU)
    Wgpu,
    /// burn-cuda (NVIDIA GPUs; needs a build with `--features cuda`)
    Cuda,
}

/// Where the training commands train.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct TrainDevices {
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    device: DeviceArg,
    /// Number of devices for data-parallel training (batches split, gradients summed by
    /// burn's multi-device optimizer step): wgpu GPUs 0..N; with cpu, N copies of the CPU
    /// backend (only useful to test the data-parallel path)
    #[arg(long, default_value_t = 1)]
    devices: usize,
}

impl TrainDevices {
    /// `--devices` devices of the `--device` kind, for data-parallel training.
    pub fn init(self) -> Result<Vec<Device>> {
        match (self.device, self.devices) {
            (_, 0) => bail!("--devices must be at least 1"),
            (arg, 1) => Ok(vec![device(arg)?]),
            (DeviceArg::Cpu, n) => Ok(vec![Device::flex(); n]),
            (DeviceArg::Wgpu, n) => (0..n).map(wgpu_gpu).collect(),
            (DeviceArg::Cuda, n) => (0..n).map(cuda_device).collect(),
        }
    }
}

#[cfg(feature = "wgpu")]
fn wgpu_gpu(index: usize) -> Result<Device> {
    Device::wgpu_options()
        .device_kind(DeviceKind::DiscreteGpu(index))
        .init()
        .map_err(|e| anyhow::anyhow!("no wgpu GPU number {index}: {e:?}"))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_gpu(_index: usize) -> Result<Device> {
    wgpu_device()
}

/// The device `--device` names (the first GPU of its kind).
pub fn device(arg: DeviceArg) -> Result<Device> {
    match arg {
        DeviceArg::Cpu => Ok(Device::flex()),
        DeviceArg::Wgpu => wgpu_device(),
        DeviceArg::Cuda => cuda_device(0),
    }
}

#[cfg(feature = "cuda")]
fn cuda_device(index: usize) -> Result<Device> {
    Ok(Device::cuda(index))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device(_index: usize) -> Result<Device> {
    bail!(
        "this build has no CUDA support: build with `cargo build --release -p trainer --features cuda`"
    )
}

#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<Device> {
    Device::wgpu_options()
        .device_kind(DeviceKind::DefaultDevice)
        .init()
        .map_err(|e| anyhow::anyhow!("no wgpu adapter: {e:?}"))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device() -> Result<Device> {
    bail!("this build has no wgpu support (build with the `wgpu` feature)")
}
