//! The web page's engine, run in a Web Worker: the `mer` feature code and classifier on
//! burn-wgpu (WebGPU) or burn's CPU backend, behind a small JavaScript API
//! (`web/www/worker.js` drives it; `web/www/app.js` and its modules in `web/www/app/` are
//! the page).

pub mod pipeline;

#[cfg(target_arch = "wasm32")]
mod wasm;
