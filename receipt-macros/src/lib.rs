//! The `#[receipt]` attribute: turns a function into a recorded stage of a run ledger.
//!
//! Use it through `receipt_runtime::receipt`; the expansion refers to
//! `::receipt_runtime::__private`, so `receipt-runtime` must be a dependency.

mod attr;
mod expand;

use proc_macro::TokenStream;

/// Records every call of the function as a stage of the run ledger.
///
/// The function body runs inside a `tracing` span (level INFO, target the module path)
/// carrying the receipt fields, so with no receipt layer installed the cost is tracing's
/// disabled-span check, and `tracing` events inside the body are recorded as part of the
/// stage. Works on free functions, methods, generic functions and `async fn` (the future
/// is instrumented; no guard is held across `.await`).
///
/// # Arguments
///
/// - `stage = "name"`: the stage name (default: `module_path!()::function_name`).
/// - `hash(a, b)`: record the SHA-256 of the RFC 8785 JSON object `{"a":…,"b":…}` of these
///   arguments, which must implement `serde::Serialize`.
/// - `hash_output`: record the SHA-256 of the RFC 8785 JSON of the return value (of the
///   `Ok` value when the function returns `Result`), which must implement `serde::Serialize`.
/// - `skip_all`: record nothing about the arguments (by default their names are listed).
/// - `after = "stage"`: declare `stage` an allowed predecessor of this stage.
/// - `evidence(a, sealed(b), return)`: keep these arguments (and with `return`, the return
///   value, the `Ok` value of a `Result`) as evidence of the stage call
///   (`receipt_runtime::evidence`), under the argument's name (or `return`), `public`
///   unless written `sealed(..)`; they must implement `serde::Serialize`. Without a recording
///   run nothing is kept; a value the run refuses is recorded as a WARN event of the stage.
///
/// A function whose return type is spelled `…Result<T, E>` records an `Err` as a failed
/// stage with the error's `Display` (so `E: Display`). A panic is recorded as outcome
/// `panic`, then unwinds as usual.
///
/// ```
/// use receipt_runtime::receipt;
///
/// #[receipt(stage = "parse", hash(text), hash_output)]
/// fn parse(text: &str) -> Result<Vec<u32>, std::num::ParseIntError> {
///     text.split(',').map(str::parse).collect()
/// }
/// # assert_eq!(parse("1,2").unwrap(), vec![1, 2]);
/// ```
#[proc_macro_attribute]
pub fn receipt(attr: TokenStream, item: TokenStream) -> TokenStream {
    let original = proc_macro2::TokenStream::from(item.clone());
    match expand::expand(attr.into(), item.into()) {
        Ok(ts) => ts.into(),
        // Emit the item unchanged next to the error, so rustc reports the user's real
        // mistakes instead of a cascade of "cannot find function" errors.
        Err(e) => {
            let err = e.to_compile_error();
            quote::quote!(#err #original).into()
        }
    }
}
