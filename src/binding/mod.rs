//! The napi-rs binding: JavaScript classes over the Rust core. Conversion at the edge, delegation, nothing else.

mod fast;
mod host;
mod otel;
mod tcc;

/// One runtime for everything: the core's workers and napi's async functions share it.
#[napi_derive::module_init]
fn init() {
  match crate::runtime::build() {
    Ok(rt) => {
      crate::runtime::install(rt.handle().clone());
      napi::bindgen_prelude::create_custom_tokio_runtime(rt);
    }
    Err(e) => eprintln!("[mastra-native-exporters] could not start the tokio runtime: {e}"),
  }
}
