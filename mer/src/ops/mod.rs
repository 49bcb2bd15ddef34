//! The encoder's costly layers as operations of our own: the 3x3 "same" convolution
//! (stride 1, padding 1), the max-pooling over mel bands, the training BatchNorm of a
//! ReLU's output, and dropout's mask. burn's CPU backend runs them with our kernels
//! ([`conv`], [`pool`], [`norm`], [`dropout`]) and trains them with their backward passes;
//! the GPU backends keep burn's own operations.
//!
//! They plug in through burn's backend extension: [`EncoderOps`] is implemented for `Flex`
//! (the kernels), for every cubecl runtime (`Cube`: wgpu, CUDA; the trait's default bodies,
//! which are burn's `conv2d`, `max_pool2d` and their backward functions) and for `Autodiff`
//! (the backward passes below, calling the inner backend's gradient operations). The
//! functions at the end are the `Tensor` fronts the networks call.

pub mod adam;
pub mod conv;
pub mod dropout;
pub mod norm;
pub mod pool;

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, TensorMetadata, backend_extension};
use burn::prelude::*;
use burn::tensor::ops::ConvOptions;

/// Runs `f` over `items`, on every core when the `rayon` feature is on (the kernels' one
/// parallel loop).
fn for_each<T: Send>(items: Vec<T>, f: impl Fn(T) + Send + Sync) {
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        items.into_par_iter().for_each(f);
    }
    #[cfg(not(feature = "rayon"))]
    items.into_iter().for_each(f);
}

/// A vector of `len` values built by parallel jobs: job `i` gets the `i`-th run of
/// `chunk` values (the last may be shorter), zeroed, and writes them with `f(i, values)`.
/// The zeroing happens inside the job, on the core that then writes those values while
/// they are in its cache, rather than in one pass over the whole buffer on the calling
/// thread before the jobs start (a `vec![0.0; len]`, which had 5 % of a training step
/// waiting on it).
fn build(len: usize, chunk: usize, f: impl Fn(usize, &mut [f32]) + Send + Sync) -> Vec<f32> {
    let mut out: Vec<f32> = Vec::with_capacity(len);
    let jobs: Vec<_> = out.spare_capacity_mut()[..len]
        .chunks_mut(chunk.max(1))
        .enumerate()
        .collect();
    for_each(jobs, |(i, values)| {
        values.fill(std::mem::MaybeUninit::new(0.0));
        // SAFETY: every value was just initialised, and `MaybeUninit<f32>` has the layout
        // of `f32`.
        let values = unsafe { &mut *(values as *mut [std::mem::MaybeUninit<f32>] as *mut [f32]) };
        f(i, values);
    });
    // SAFETY: the jobs initialised all `len` values (each chunk zeroed before `f`).
    unsafe { out.set_len(len) };
    out
}

/// The convolution's settings in burn's terms: stride 1, padding 1, no dilation, no groups.
fn options() -> ConvOptions<2> {
    ConvOptions::new([1, 1], [1, 1], [1, 1], 1)
}

/// A 3x3 "same" convolution with bias and its two gradients; a max-pooling over `k` mel
/// bands (window and stride `[k, 1]`) and its gradient.
#[backend_extension(
    Flex: cfg(feature = "flex"),
    Cube: cfg(any(feature = "wgpu", feature = "cuda")),
    Autodiff: cfg(feature = "train"),
)]
pub trait EncoderOps: Backend {
    /// `x [b, c_in, h, w]`, `weight [c_out, c_in, 3, 3]`, `bias [c_out]` -> `[b, c_out, h, w]`.
    fn conv3x3(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::conv2d(x, weight, Some(bias), options())
    }

    /// The gradient of the input `x` from the output's `grad`.
    fn conv3x3_input_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::conv2d_x_backward(x, weight, grad, options())
    }

    /// The gradients of the kernel and of the bias from the output's `grad`.
    fn conv3x3_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let weight_grad = Self::conv2d_weight_backward(x.clone(), weight, grad.clone(), options());
        (weight_grad, Self::conv2d_bias_backward(x, bias, grad))
    }

    /// `relu(conv3x3(x, weight, bias)) * scale + shift`, `scale` and `shift` per channel
    /// (`[c_out]`): a convolution, its ReLU and an inference BatchNorm in one pass.
    fn conv3x3_relu_affine(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let y = Self::relu(Self::conv3x3(x, weight, bias));
        let c = y.shape()[1];
        let scale = Self::float_reshape(scale, [1, c, 1, 1].into());
        let shift = Self::float_reshape(shift, [1, c, 1, 1].into());
        Self::float_add(Self::float_mul(y, scale), shift)
    }

    /// The training BatchNorm of `relu(x)` (`x [b, c, h, w]`, `gamma` and `beta` `[c]`):
    /// `(output, mean, variance)`, the batch's per-channel mean and biased variance of
    /// `relu(x)`, as burn's `batch_norm_train` of the ReLU gives them.
    fn relu_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let r = Self::batch_norm_train(Self::relu(x), gamma, beta, epsilon);
        (r.output, r.mean, r.variance)
    }

    /// The gradients of `x`, `gamma` and `beta` from the output's `grad`, for the `mean`
    /// and `variance` the forward pass returned.
    fn relu_batch_norm_train_grad(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let g = Self::batch_norm_train_backward(
            Self::relu(x.clone()),
            gamma,
            mean,
            variance,
            epsilon,
            grad,
        );
        let bool_dtype = burn::backend::get_or_init_device_settings::<Self>(&x.device()).bool_dtype;
        let off = Self::float_lower_equal_elem(x, 0f32.into(), bool_dtype);
        (
            Self::float_mask_fill(g.x_grad, off, 0f32.into()),
            g.gamma_grad,
            g.beta_grad,
        )
    }

    /// A training dropout's mask for a tensor shaped like `x` (on its device, in its
    /// float type): each value `1 / (1 - prob)` with probability `1 - prob`, else 0, drawn
    /// from the device's seeded generator. `x * mask` is what burn's `Dropout` computes.
    fn dropout_mask_like(x: FloatTensor<Self>, prob: f64) -> FloatTensor<Self> {
        let keep = 1.0 - prob;
        let mask = Self::float_random(
            x.shape(),
            burn::tensor::Distribution::Bernoulli(keep),
            &x.device(),
            x.dtype().into(),
        );
        Self::float_mul_scalar(mask, (1.0 / keep).into())
    }

    /// One step of Adam with AMSGrad (burn's `Adam`, no weight decay) for a parameter of
    /// any shape: `(param, moment_1, moment_2, max_moment_2)` updated from `grad` with the
    /// scalars of [`adam::Amsgrad`]. The default body is burn's sequence of tensor
    /// operations; the CPU backend's runs [`adam::step`] in place.
    fn amsgrad_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        max_moment_2: FloatTensor<Self>,
        step: adam::Amsgrad,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
        FloatTensor<Self>,
    ) {
        let new_1 = Self::float_mul_scalar(grad.clone(), (1.0 - step.beta_1).into());
        let new_2 = Self::float_mul_scalar(
            Self::float_mul(grad.clone(), grad),
            (1.0 - step.beta_2).into(),
        );
        let (moment_1, moment_2, max_moment_2) = if step.first {
            (new_1, new_2.clone(), new_2)
        } else {
            let moment_1 =
                Self::float_add(Self::float_mul_scalar(moment_1, step.beta_1.into()), new_1);
            let moment_2 =
                Self::float_add(Self::float_mul_scalar(moment_2, step.beta_2.into()), new_2);
            let bool_dtype =
                burn::backend::get_or_init_device_settings::<Self>(&param.device()).bool_dtype;
            let lower = Self::float_lower(max_moment_2.clone(), moment_2.clone(), bool_dtype);
            let max = Self::float_mask_where(max_moment_2, lower, moment_2.clone());
            (moment_1, moment_2, max)
        };
        let update = Self::float_div(
            Self::float_mul_scalar(moment_1.clone(), step.factor.into()),
            Self::float_add_scalar(Self::float_sqrt(max_moment_2.clone()), step.epsilon.into()),
        );
        let param = Self::float_sub(param, Self::float_mul_scalar(update, step.lr.into()));
        (param, moment_1, moment_2, max_moment_2)
    }

    /// `x [b, c, h, w]` -> `[b, c, h / k, w]`, the maximum of each window of `k` bands.
    fn max_pool_mel(x: FloatTensor<Self>, k: usize) -> FloatTensor<Self> {
        Self::max_pool2d(x, [k, 1], [k, 1], [0, 0], [1, 1], false)
    }

    /// The gradient of the input `x` from the output's `grad`.
    fn max_pool_mel_grad(
        x: FloatTensor<Self>,
        k: usize,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let int_dtype = burn::backend::get_or_init_device_settings::<Self>(&x.device()).int_dtype;
        let pooled = Self::max_pool2d_with_indices(
            x.clone(),
            [k, 1],
            [k, 1],
            [0, 0],
            [1, 1],
            false,
            int_dtype,
        );
        Self::max_pool2d_with_indices_backward(
            x,
            [k, 1],
            [k, 1],
            [0, 0],
            [1, 1],
            false,
            grad,
            pooled.indices,
        )
        .x_grad
    }
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl EncoderOps for burn::backend::Cube {}

#[cfg(feature = "flex")]
mod flex {
    use burn::backend::Flex;
    use burn::backend::TensorMetadata;
    use burn::backend::flex::FlexTensor;
    use burn::backend::ops::{FloatTensorOps, IntTensorOps};
    use burn::backend::tensor::FloatTensor;
    use burn::tensor::{DType, TensorData};

    use super::EncoderOps;
    use super::conv::{self, Geometry};
    use super::{adam, dropout, norm, pool};

    /// The tensor's values as contiguous f32: borrowed when they already are, else copied
    /// (and converted from another float type; the kernels compute in f32).
    fn values(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
        match t.as_slice::<f32>() {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None if t.dtype() == DType::F32 => {
                std::borrow::Cow::Owned(t.to_contiguous().storage::<f32>().to_vec())
            }
            None => std::borrow::Cow::Owned(
                t.clone()
                    .into_data()
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .expect("converted to f32"),
            ),
        }
    }

    /// A tensor of `values` in the float type `like` has.
    fn tensor_like(values: Vec<f32>, shape: &[usize], like: &FlexTensor) -> FlexTensor {
        let t = FlexTensor::from_data(TensorData::new(values, shape.to_vec()));
        in_dtype(t, like.dtype())
    }

    /// An f32 tensor in the float type `dtype`.
    fn in_dtype(t: FlexTensor, dtype: DType) -> FlexTensor {
        match dtype {
            DType::F32 => t,
            dtype => Flex::float_cast(t, dtype.into()),
        }
    }

    /// The tensor's values as one contiguous f32 slice to update in place: copied first
    /// when its storage is shared, laid out otherwise or of another float type (which then
    /// becomes f32).
    fn values_mut(t: &mut FlexTensor) -> &mut [f32] {
        let n = t.shape().num_elements();
        if t.dtype() != DType::F32 {
            *t = Flex::float_cast(t.clone(), burn::tensor::FloatDType::F32);
        }
        if t.layout().contiguous_offsets() != Some((0, n)) {
            *t = t.to_contiguous();
        }
        &mut t.storage_mut::<f32>()[..n]
    }

    fn geometry(x: &FlexTensor, c_out: usize) -> Geometry {
        let [batch, c_in, height, width]: [usize; 4] = x.shape().dims();
        Geometry {
            batch,
            c_in,
            c_out,
            height,
            width,
        }
    }

    impl EncoderOps for Flex {
        fn conv3x3(
            x: FloatTensor<Self>,
            weight: FloatTensor<Self>,
            bias: FloatTensor<Self>,
        ) -> FloatTensor<Self> {
            let geo = geometry(&x, weight.shape()[0]);
            let y = conv::forward(&values(&x), &values(&weight), Some(&values(&bias)), &geo);
            tensor_like(y, &[geo.batch, geo.c_out, geo.height, geo.width], &x)
        }

        fn conv3x3_input_grad(
            x: FloatTensor<Self>,
            weight: FloatTensor<Self>,
            grad: FloatTensor<Self>,
        ) -> FloatTensor<Self> {
            let geo = geometry(&x, weight.shape()[0]);
            let dx = conv::input_grad(&values(&grad), &values(&weight), &geo);
            tensor_like(dx, &[geo.batch, geo.c_in, geo.height, geo.width], &grad)
        }

        fn conv3x3_weight_grad(
            x: FloatTensor<Self>,
            weight: FloatTensor<Self>,
            _bias: FloatTensor<Self>,
            grad: FloatTensor<Self>,
        ) -> (FloatTensor<Self>, FloatTensor<Self>) {
            let geo = geometry(&x, weight.shape()[0]);
            let (dw, db) = conv::weight_grad(&values(&x), &values(&grad), &geo);
            (
                tensor_like(dw, &[geo.c_out, geo.c_in, 3, 3], &weight),
                tensor_like(db, &[geo.c_out], &weight),
            )
        }

        fn conv3x3_relu_affine(
            x: FloatTensor<Self>,
            weight: FloatTensor<Self>,
            bias: FloatTensor<Self>,
            scale: FloatTensor<Self>,
            shift: FloatTensor<Self>,
        ) -> FloatTensor<Self> {
            let geo = geometry(&x, weight.shape()[0]);
            let (bias, scale, shift) = (values(&bias), values(&scale), values(&shift));
            let epilogue = conv::Epilogue {
                bias: Some(&bias),
                relu_affine: Some((&scale, &shift)),
            };
            let y = conv::forward_with(&values(&x), &values(&weight), epilogue, &geo);
            tensor_like(y, &[geo.batch, geo.c_out, geo.height, geo.width], &x)
        }

        fn relu_batch_norm_train(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            epsilon: f64,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
            let geo = norm_geometry(&x);
            let (y, mean, var) =
                norm::forward(&values(&x), &values(&gamma), &values(&beta), epsilon, &geo);
            let c = [geo.channels];
            (
                tensor_like(y, &x.shape().dims::<4>(), &x),
                tensor_like(mean, &c, &gamma),
                tensor_like(var, &c, &gamma),
            )
        }

        fn relu_batch_norm_train_grad(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            mean: FloatTensor<Self>,
            variance: FloatTensor<Self>,
            epsilon: f64,
            grad: FloatTensor<Self>,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
            let geo = norm_geometry(&x);
            let (dx, dgamma, dbeta) = norm::backward(
                &values(&x),
                &values(&gamma),
                &values(&mean),
                &values(&variance),
                epsilon,
                &values(&grad),
                &geo,
            );
            let c = [geo.channels];
            (
                tensor_like(dx, &x.shape().dims::<4>(), &grad),
                tensor_like(dgamma, &c, &gamma),
                tensor_like(dbeta, &c, &gamma),
            )
        }

        fn amsgrad_step(
            param: FloatTensor<Self>,
            grad: FloatTensor<Self>,
            moment_1: FloatTensor<Self>,
            moment_2: FloatTensor<Self>,
            max_moment_2: FloatTensor<Self>,
            step: adam::Amsgrad,
        ) -> (
            FloatTensor<Self>,
            FloatTensor<Self>,
            FloatTensor<Self>,
            FloatTensor<Self>,
        ) {
            let dtype = param.dtype();
            let (mut p, mut m1, mut m2, mut mx) = (param, moment_1, moment_2, max_moment_2);
            adam::step(
                values_mut(&mut p),
                &values(&grad),
                values_mut(&mut m1),
                values_mut(&mut m2),
                values_mut(&mut mx),
                &step,
            );
            let back = |t| in_dtype(t, dtype);
            (back(p), back(m1), back(m2), back(mx))
        }

        fn dropout_mask_like(x: FloatTensor<Self>, prob: f64) -> FloatTensor<Self> {
            // One seed from flex's seeded generator (two 32-bit draws), then the hash.
            let draws = Flex::int_random(
                [2].into(),
                burn::tensor::Distribution::Uniform(0.0, 4_294_967_296.0),
                &x.device(),
                burn::tensor::IntDType::I64,
            );
            let draws = draws
                .into_data()
                .convert::<i64>()
                .try_into_vec::<i64>()
                .expect("flex draws i64 integers");
            let seed = draws
                .iter()
                .fold(0u64, |s, &d| (s << 32) | (d as u64 & 0xffff_ffff));
            let shape = x.shape();
            let dims: Vec<usize> = (0..shape.num_dims()).map(|i| shape[i]).collect();
            tensor_like(dropout::mask(shape.num_elements(), prob, seed), &dims, &x)
        }

        fn max_pool_mel(x: FloatTensor<Self>, k: usize) -> FloatTensor<Self> {
            let geo = pool_geometry(&x, k);
            let y = pool::forward(&values(&x), &geo);
            tensor_like(
                y,
                &[geo.batch, geo.channels, geo.out_height(), geo.width],
                &x,
            )
        }

        fn max_pool_mel_grad(
            x: FloatTensor<Self>,
            k: usize,
            grad: FloatTensor<Self>,
        ) -> FloatTensor<Self> {
            let geo = pool_geometry(&x, k);
            let dx = pool::backward(&values(&x), &values(&grad), &geo);
            tensor_like(dx, &[geo.batch, geo.channels, geo.height, geo.width], &grad)
        }
    }

    fn norm_geometry(x: &FlexTensor) -> norm::Geometry {
        let [batch, channels, height, width]: [usize; 4] = x.shape().dims();
        norm::Geometry {
            batch,
            channels,
            plane: height * width,
        }
    }

    fn pool_geometry(x: &FlexTensor, k: usize) -> pool::Geometry {
        let [batch, channels, height, width]: [usize; 4] = x.shape().dims();
        pool::Geometry {
            batch,
            channels,
            height,
            width,
            k,
        }
    }
}

#[cfg(feature = "train")]
mod autodiff {
    use burn::backend::Backend;
    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::autodiff::{Autodiff, NodeId};
    use burn::backend::tensor::FloatTensor;

    use super::EncoderOps;

    #[derive(Debug)]
    struct Conv3x3Backward;

    impl<B: Backend + EncoderOps> Backward<B, 3> for Conv3x3Backward {
        type State = (NodeId, NodeId, NodeId);

        fn backward(
            self,
            ops: Ops<Self::State, 3>,
            grads: &mut Gradients,
            checkpointer: &mut Checkpointer,
        ) {
            let [node_x, node_weight, node_bias] = ops.parents;
            let grad = grads.consume::<B>(&ops.node);
            let (x, weight, bias) = ops.state;
            let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x);
            let weight = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(weight);
            let bias = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(bias);
            if let Some(node) = node_x {
                let dx = B::conv3x3_input_grad(x.clone(), weight.clone(), grad.clone());
                grads.register::<B>(node.id, dx);
            }
            if node_weight.is_some() || node_bias.is_some() {
                let (dw, db) = B::conv3x3_weight_grad(x, weight, bias, grad);
                if let Some(node) = node_weight {
                    grads.register::<B>(node.id, dw);
                }
                if let Some(node) = node_bias {
                    grads.register::<B>(node.id, db);
                }
            }
        }
    }

    #[derive(Debug)]
    struct MaxPoolMelBackward;

    impl<B: Backend + EncoderOps> Backward<B, 1> for MaxPoolMelBackward {
        type State = (NodeId, usize);

        fn backward(
            self,
            ops: Ops<Self::State, 1>,
            grads: &mut Gradients,
            checkpointer: &mut Checkpointer,
        ) {
            let [node_x] = ops.parents;
            let grad = grads.consume::<B>(&ops.node);
            let (x, k) = ops.state;
            let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x);
            if let Some(node) = node_x {
                grads.register::<B>(node.id, B::max_pool_mel_grad(x, k, grad));
            }
        }
    }

    #[derive(Debug)]
    struct ReluBatchNormBackward;

    impl<B: Backend + EncoderOps> Backward<B, 3> for ReluBatchNormBackward {
        /// `x` and `gamma` checkpointed; the batch statistics as the forward pass made them.
        type State = (
            NodeId,
            NodeId,
            B::FloatTensorPrimitive,
            B::FloatTensorPrimitive,
            f64,
        );

        fn backward(
            self,
            ops: Ops<Self::State, 3>,
            grads: &mut Gradients,
            checkpointer: &mut Checkpointer,
        ) {
            let [node_x, node_gamma, node_beta] = ops.parents;
            let grad = grads.consume::<B>(&ops.node);
            let (x, gamma, mean, variance, epsilon) = ops.state;
            let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x);
            let gamma = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(gamma);
            let (dx, dgamma, dbeta) =
                B::relu_batch_norm_train_grad(x, gamma, mean, variance, epsilon, grad);
            for (node, g) in [(node_x, dx), (node_gamma, dgamma), (node_beta, dbeta)] {
                if let Some(node) = node {
                    grads.register::<B>(node.id, g);
                }
            }
        }
    }

    impl<B: Backend + EncoderOps, C: CheckpointStrategy> EncoderOps for Autodiff<B, C> {
        fn dropout_mask_like(x: FloatTensor<Self>, prob: f64) -> FloatTensor<Self> {
            // A constant of the graph, as burn's random tensor is.
            <FloatTensor<Self>>::new(B::dropout_mask_like(x.into_primitive(), prob))
        }

        fn relu_batch_norm_train(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            epsilon: f64,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
            // The statistics leave untracked, as burn's batch_norm_train leaves them.
            let untracked = <FloatTensor<Self>>::new;
            match ReluBatchNormBackward
                .prepare::<C>([x.node(), gamma.node(), beta.node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(mut prep) => {
                    let x_state = prep.checkpoint(&x);
                    let gamma_state = prep.checkpoint(&gamma);
                    let (y, mean, var) = B::relu_batch_norm_train(
                        x.into_primitive(),
                        gamma.into_primitive(),
                        beta.into_primitive(),
                        epsilon,
                    );
                    let state = (x_state, gamma_state, mean.clone(), var.clone(), epsilon);
                    (prep.finish(state, y), untracked(mean), untracked(var))
                }
                OpsKind::UnTracked(prep) => {
                    let (y, mean, var) = B::relu_batch_norm_train(
                        x.into_primitive(),
                        gamma.into_primitive(),
                        beta.into_primitive(),
                        epsilon,
                    );
                    (prep.finish(y), untracked(mean), untracked(var))
                }
            }
        }

        fn max_pool_mel(x: FloatTensor<Self>, k: usize) -> FloatTensor<Self> {
            match MaxPoolMelBackward
                .prepare::<C>([x.node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(mut prep) => {
                    let state = (prep.checkpoint(&x), k);
                    prep.finish(state, B::max_pool_mel(x.into_primitive(), k))
                }
                OpsKind::UnTracked(prep) => prep.finish(B::max_pool_mel(x.into_primitive(), k)),
            }
        }

        fn conv3x3(
            x: FloatTensor<Self>,
            weight: FloatTensor<Self>,
            bias: FloatTensor<Self>,
        ) -> FloatTensor<Self> {
            match Conv3x3Backward
                .prepare::<C>([x.node(), weight.node(), bias.node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(mut prep) => {
                    let state = (
                        prep.checkpoint(&x),
                        prep.checkpoint(&weight),
                        prep.checkpoint(&bias),
                    );
                    prep.finish(
                        state,
                        B::conv3x3(
                            x.into_primitive(),
                            weight.into_primitive(),
                            bias.into_primitive(),
                        ),
                    )
                }
                OpsKind::UnTracked(prep) => prep.finish(B::conv3x3(
                    x.into_primitive(),
                    weight.into_primitive(),
                    bias.into_primitive(),
                )),
            }
        }
        // The gradient operations keep their default bodies (burn's own, tracked): the
        // backward pass above calls the inner backend's instead.
    }
}

/// The 3x3 "same" convolution of `x [b, c_in, h, w]` with `weight [c_out, c_in, 3, 3]` and
/// `bias [c_out]`, on any device; the same values as burn's `conv2d` with padding 1.
pub fn conv3x3(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as EncoderOps>::conv3x3(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
    ))
}

/// Whether a burn `Conv2d` layer is a 3x3 "same" convolution (stride 1, no dilation, no
/// groups), the one [`conv3x3`] computes.
fn is_conv3x3(layer: &burn::nn::conv::Conv2d) -> bool {
    use burn::nn::PaddingConfig2d::{Explicit, Same};
    matches!(layer.padding, Same | Explicit(1, 1, 1, 1))
        && layer.kernel_size == [3, 3]
        && layer.stride == [1, 1]
        && layer.dilation == [1, 1]
        && layer.groups == 1
}

/// A burn `Conv2d` layer run through [`conv3x3`] when it is a 3x3 "same" convolution
/// (stride 1, no dilation, no groups), else through burn's own forward pass: the layer keeps
/// its parameters and record, only the computation is ours.
pub fn conv2d_layer(layer: &burn::nn::conv::Conv2d, x: Tensor<4>) -> Tensor<4> {
    if !is_conv3x3(layer) {
        return layer.forward(x);
    }
    let weight = layer.weight.val();
    let bias = bias_or_zeros(layer.bias.as_ref(), weight.dims()[0], &weight.device());
    conv3x3(x, weight, bias)
}

/// `bn(relu(conv(x)))` for a burn `Conv2d` layer (3x3, "same") and `BatchNorm` layer:
/// off autodiff, where the BatchNorm uses its running statistics, in one pass
/// ([`EncoderOps::conv3x3_relu_affine`] with `scale = gamma / sqrt(var + eps)` and `shift =
/// beta - mean scale`); on autodiff, where it may train, as the convolution then [`relu_batch_norm`].
pub fn conv_relu_batch_norm(
    conv: &burn::nn::conv::Conv2d,
    bn: &burn::nn::BatchNorm,
    x: Tensor<4>,
) -> Tensor<4> {
    if x.device().is_autodiff() || !is_conv3x3(conv) {
        return relu_batch_norm(bn, conv2d_layer(conv, x));
    }
    let weight = conv.weight.val();
    let device = weight.device();
    let bias = bias_or_zeros(conv.bias.as_ref(), weight.dims()[0], &device);
    let var = bn.running_var.value().to_device(&device);
    let mean = bn.running_mean.value().to_device(&device);
    let scale = bn.gamma.val() / var.add_scalar(bn.epsilon).sqrt();
    let shift = bn.beta.val() - mean * scale.clone();
    Tensor::from_dispatch(<Dispatch as EncoderOps>::conv3x3_relu_affine(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        scale.into_dispatch(),
        shift.into_dispatch(),
    ))
}

/// `bn(relu(x))` for `x [b, c, h, w]` and a burn `BatchNorm` layer. Training (on
/// autodiff, the layer's training flag on), with the batch's statistics in one operation
/// ([`EncoderOps::relu_batch_norm_train`]), the layer's running statistics updated as
/// burn's `BatchNorm::forward` updates them; otherwise burn's two layers.
pub fn relu_batch_norm(bn: &burn::nn::BatchNorm, x: Tensor<4>) -> Tensor<4> {
    if !(x.device().is_autodiff() && bn.training.is_enabled()) {
        return bn.forward(burn::tensor::activation::relu(x));
    }
    assert_eq!(
        x.dims()[1],
        bn.gamma.dims()[0],
        "relu_batch_norm: the input's channels are not the layer's"
    );
    let (y, mean, var) = <Dispatch as EncoderOps>::relu_batch_norm_train(
        x.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        bn.epsilon,
    );
    let (mean, var) = (
        Tensor::<1>::from_dispatch(mean),
        Tensor::<1>::from_dispatch(var),
    );
    let device = mean.device();
    let blend = |running: Tensor<1>, batch: Tensor<1>| {
        running
            .to_device(&device)
            .mul_scalar(1.0 - bn.momentum)
            .add(batch.detach().mul_scalar(bn.momentum))
            .detach()
    };
    bn.running_mean
        .update(blend(bn.running_mean.value_sync(), mean));
    bn.running_var
        .update(blend(bn.running_var.value_sync(), var));
    Tensor::from_dispatch(y)
}

/// A burn `Dropout` layer: in training (on autodiff, the layer's training flag on, a
/// non-zero probability) `x` times [`EncoderOps::dropout_mask_like`]'s mask, as burn's
/// `Dropout::forward` computes it; otherwise `x`.
pub fn dropout_layer<const D: usize>(layer: &burn::nn::Dropout, x: Tensor<D>) -> Tensor<D> {
    if !layer.training.is_enabled() || !x.device().is_autodiff() || layer.prob == 0.0 {
        return x;
    }
    let mask = Tensor::<D>::from_dispatch(<Dispatch as EncoderOps>::dropout_mask_like(
        x.clone().into_dispatch(),
        layer.prob,
    ));
    x * mask
}

/// A burn `ConvTranspose2d` layer run through [`conv3x3`] when it is 3x3 with stride 1,
/// padding 1, no output padding, dilation or groups (else through burn's own forward
/// pass): a transposed convolution with these settings is the convolution with the
/// kernel's channels swapped and its taps flipped (`[c_in, c_out, kh, kw]` -> `[c_out,
/// c_in, 2 - kh, 2 - kw]`), done here with tensor operations so that autodiff carries it.
pub fn conv_transpose2d_layer(layer: &burn::nn::conv::ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    let plain = layer.kernel_size == [3, 3]
        && layer.stride == [1, 1]
        && layer.padding == [1, 1]
        && layer.padding_out == [0, 0]
        && layer.dilation == [1, 1]
        && layer.groups == 1;
    if !plain {
        return layer.forward(x);
    }
    let weight = layer.weight.val().permute([1, 0, 2, 3]).flip([2, 3]);
    let bias = bias_or_zeros(layer.bias.as_ref(), weight.dims()[0], &weight.device());
    conv3x3(x, weight, bias)
}

fn bias_or_zeros(
    bias: Option<&burn::module::Param<Tensor<1>>>,
    channels: usize,
    device: &Device,
) -> Tensor<1> {
    bias.map_or_else(|| Tensor::zeros([channels], device), |b| b.val())
}

/// The max-pooling of `x [b, c, h, w]` over windows of `k` mel bands (window and stride
/// `[k, 1]`, no padding) -> `[b, c, h / k, w]`, on any device; burn's `max_pool2d` values.
pub fn max_pool_mel(x: Tensor<4>, k: usize) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as EncoderOps>::max_pool_mel(x.into_dispatch(), k))
}

/// A burn `MaxPool2d` layer run through [`max_pool_mel`] when its window is `[k, 1]` with
/// stride `[k, 1]` (no padding, no dilation, floor mode), else through burn's own pass.
pub fn max_pool_layer(layer: &burn::nn::pool::MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    let [k, one] = layer.kernel_size;
    let plain = one == 1
        && layer.stride == layer.kernel_size
        && matches!(layer.padding, burn::nn::PaddingConfig2d::Valid)
        && layer.dilation == [1, 1]
        && !layer.ceil_mode;
    if !plain {
        return layer.forward(x);
    }
    max_pool_mel(x, k)
}
