//! The encoder's 3x3 convolutions on burn's CPU backend: burn's own `conv2d` against
//! `mer::ops::conv3x3`, forward alone and forward plus backward (autodiff), per layer at
//! the training batch. Prints a Markdown table of milliseconds (median of timed runs).
//! Run: `cargo bench -p mer --bench conv --features rayon,train`
//! (`MER_BENCH_STEPS` sets the timed runs, default 10; `MER_BENCH_BATCH` the batch, 32).

mod common;

use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use common::{env, median_secs};
use mer::ops::conv3x3;

/// Median milliseconds of `runs` calls after two warm-up calls.
fn time(runs: usize, f: impl FnMut()) -> f64 {
    median_secs(runs, f) * 1e3
}

fn forward(conv: &Conv2d, x: Tensor<4>, ours: bool) -> Tensor<4> {
    if ours {
        conv3x3(
            x,
            conv.weight.val(),
            conv.bias.as_ref().expect("bias").val(),
        )
    } else {
        conv.forward(x)
    }
}

fn main() {
    let runs = env("MER_BENCH_STEPS", 10);
    let b = env("MER_BENCH_BATCH", 32);
    println!(
        "3x3 convolutions on burn flex, batch {b}, {} threads, median of {runs} runs (ms)\n",
        rayon::current_num_threads()
    );
    println!(
        "| layer | forward: burn | ours | speed-up | forward + backward: burn | ours | speed-up |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let layers = [
        (1, 32, 128),
        (32, 32, 128),
        (32, 64, 32),
        (64, 64, 32),
        (64, 128, 8),
        (128, 128, 8),
    ];
    for (ci, co, h) in layers {
        let plain = Device::flex();
        let conv = Conv2dConfig::new([ci, co], [3, 3])
            .with_padding(PaddingConfig2d::Same)
            .init(&plain);
        let x = Tensor::<4>::random([b, ci, h, 31], Distribution::Normal(0.0, 1.0), &plain);
        let fwd = |ours: bool| {
            time(runs, || {
                let y = forward(&conv, x.clone(), ours);
                let _ = y.into_data();
            })
        };
        let auto = Device::flex().autodiff();
        let conv_ad = Conv2dConfig::new([ci, co], [3, 3])
            .with_padding(PaddingConfig2d::Same)
            .init(&auto);
        let x_ad = Tensor::<4>::random([b, ci, h, 31], Distribution::Normal(0.0, 1.0), &auto);
        let train = |ours: bool| {
            time(runs, || {
                let x = Param::from_tensor(x_ad.clone()).val();
                let grads = forward(&conv_ad, x.clone(), ours).sum().backward();
                let _ = x.grad(&grads).map(|g| g.into_data());
                let _ = conv_ad.weight.val().grad(&grads).map(|g| g.into_data());
            })
        };
        // MER_BENCH_ONLY=ours or burn times one side (for a profiler); the other shows 0.
        let only = std::env::var("MER_BENCH_ONLY").unwrap_or_default();
        let side = |ours: bool, f: &dyn Fn(bool) -> f64| match only.as_str() {
            "ours" if !ours => 0.0,
            "burn" if ours => 0.0,
            _ => f(ours),
        };
        let (f_burn, f_ours) = (side(false, &fwd), side(true, &fwd));
        let (t_burn, t_ours) = (side(false, &train), side(true, &train));
        println!(
            "| {ci} -> {co}, {h} x 31 | {f_burn:.1} | {f_ours:.1} | {:.2}x | {t_burn:.1} | {t_ours:.1} | {:.2}x |",
            f_burn / f_ours,
            t_burn / t_ours
        );
    }
}
