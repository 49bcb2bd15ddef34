//! Training-step throughput of the paper's three networks on burn's CPU backend (flex,
//! autodiff): patches per second, median of timed steps after warm-up. Prints a Markdown
//! table. Run: `cargo bench -p mer --bench training --features rayon,train`
//! (`MER_BENCH_STEPS` sets the timed steps, default 10; `MER_BENCH_BATCH` the batch, 32;
//! `MER_BENCH_MALLOC=default` leaves malloc as glibc sets it, see `mer::alloc`;
//! `MER_BENCH_NETWORKS=scae,cpc,classifier` the networks, all by default, e.g. to profile
//! one).

mod common;

use burn::nn::loss::{BinaryCrossEntropyLossConfig, CrossEntropyLossConfig, MseLoss, Reduction};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Distribution;
use common::{env, median_secs};
use mer::model::{CPC_CODE, CPC_FUTURE, CPC_PAST, Classifier, Cpc, Scae};
use mer::optim::AmsgradConfig;

fn patches(b: usize, device: &Device) -> Tensor<4> {
    Tensor::random([b, 1, 128, 31], Distribution::Normal(-4.0, 2.0), device)
}

fn main() {
    // As the trainer does (mer::alloc); MER_BENCH_MALLOC=default keeps glibc's defaults.
    let tuned = std::env::var("MER_BENCH_MALLOC").as_deref() != Ok("default")
        && mer::alloc::tune_for_training();
    let steps = env("MER_BENCH_STEPS", 10);
    let networks = std::env::var("MER_BENCH_NETWORKS").unwrap_or_default();
    let wanted = |name: &str| networks.is_empty() || networks.split(',').any(|n| n == name);
    let b = env("MER_BENCH_BATCH", 32);
    let device = Device::flex().autodiff();
    device.seed(0);
    println!(
        "Training steps on burn flex (autodiff), batch {b}, {} threads, median of {steps} steps, malloc {}\n",
        rayon::current_num_threads(),
        if tuned {
            "tuned for training"
        } else {
            "defaults"
        }
    );
    println!("| network | patches per step | s per step | patches/s |\n|---|---|---|---|");
    let row = |name: &str, per_step: usize, secs: f64| {
        println!(
            "| {name} | {per_step} | {secs:.3} | {:.1} |",
            per_step as f64 / secs
        );
    };

    if wanted("scae") {
        // Taken by each step and given back updated, as the trainer does: a clone kept
        // alive meanwhile would make the optimizer copy every parameter it updates.
        let mut slot = Some(Scae::new(&device));
        let mut optim = AmsgradConfig::new().init();
        let x = patches(b, &device);
        let secs = median_secs(steps, || {
            let model = slot.take().expect("the model");
            let noisy = x.clone() + x.random_like(Distribution::Normal(0.0, 0.3));
            let loss =
                MseLoss::new().forward(model.forward(noisy), x.clone().detach(), Reduction::Mean);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            slot = Some(optim.step(1e-3, model, grads));
            let _ = loss.into_scalar::<f32>();
        });
        row("SCAE", b, secs);
    }
    if wanted("cpc") {
        // Taken by each step and given back updated, as the trainer does: a clone kept
        // alive meanwhile would make the optimizer copy every parameter it updates.
        let mut slot = Some(Cpc::new(&device));
        let mut optim = AmsgradConfig::new().init();
        let span = CPC_PAST + CPC_FUTURE;
        let x = patches(b * span, &device);
        let y = Tensor::<1, Int>::from_data(
            TensorData::new((0..b as i64).map(|i| i % 2).collect::<Vec<_>>(), [b]),
            &device,
        );
        let secs = median_secs(steps, || {
            let model = slot.take().expect("the model");
            let codes = model.encode(x.clone()).reshape([b, span, CPC_CODE]);
            let past = codes.clone().slice([0..b, 0..CPC_PAST, 0..CPC_CODE]);
            let future = codes.slice([0..b, CPC_PAST..span, 0..CPC_CODE]);
            let pred = model.predict(model.context(past));
            let logits = (pred * future).mean_dim(2).mean_dim(1).reshape([b]);
            let loss = BinaryCrossEntropyLossConfig::new()
                .with_logits(true)
                .init(&device)
                .forward(logits, y.clone());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            slot = Some(optim.step(1e-3, model, grads));
            let _ = loss.into_scalar::<f32>();
        });
        row(
            &format!("CPC ({b} windows of {span} patches)"),
            b * span,
            secs,
        );
    }
    if wanted("classifier") {
        // Taken by each step and given back updated, as the trainer does: a clone kept
        // alive meanwhile would make the optimizer copy every parameter it updates.
        let mut slot = Some(Classifier::new(&device));
        let mut optim = AmsgradConfig::new().init();
        let x = patches(b, &device);
        let labels = |classes: i64| {
            Tensor::<1, Int>::from_data(
                TensorData::new((0..b as i64).map(|i| i % classes).collect::<Vec<_>>(), [b]),
                &device,
            )
        };
        let (q, a, v) = (labels(4), labels(2), labels(2));
        let ce = CrossEntropyLossConfig::new().init(&device);
        let secs = median_secs(steps, || {
            let model = slot.take().expect("the model");
            let out = model.forward(x.clone());
            let loss = ce.forward(out.quadrant, q.clone())
                + ce.forward(out.arousal, a.clone())
                + ce.forward(out.valence, v.clone());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            slot = Some(optim.step(1e-3, model, grads));
            let _ = loss.into_scalar::<f32>();
        });
        row("classifier (Full: every layer trained)", b, secs);
    }
}
