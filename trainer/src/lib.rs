//! The trainer's library: corpora, pretraining, transfer, evaluation and reports, used by
//! the `trainer` command line (`cli`, run by `main.rs`) and by the fuzz targets (`fuzz/`).

pub mod baselines;
pub mod cli;
pub mod commands;
pub mod corpus;
pub mod data;
pub mod evaluation;
#[doc(hidden)]
pub mod fuzzing;
pub mod io;
pub mod metrics;
pub mod output;
pub mod plots;
pub mod reproduce;
pub mod run;
pub mod train;
