//! Code generation: wraps a function body in a stage span carrying the receipt fields.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ItemFn, Pat, ReturnType, Type};

use crate::attr::ReceiptArgs;

/// The simple argument names of a signature (`self` included), in order.
fn arg_names(item: &ItemFn) -> Vec<Ident> {
    item.sig
        .inputs
        .iter()
        .filter_map(|a| match a {
            FnArg::Receiver(r) => Some(Ident::new("self", r.self_token.span)),
            FnArg::Typed(t) => match &*t.pat {
                Pat::Ident(p) => Some(p.ident.clone()),
                _ => None,
            },
        })
        .collect()
}

/// Whether a type mentions `impl Trait` (which cannot be written in a `let` annotation).
fn has_impl_trait(ty: &Type) -> bool {
    fn walk(ts: TokenStream) -> bool {
        ts.into_iter().any(|t| match t {
            TokenTree::Ident(i) => i == "impl",
            TokenTree::Group(g) => walk(g.stream()),
            _ => false,
        })
    }
    walk(quote!(#ty))
}

/// Whether the return type is spelled `Result<..>` (any path ending in `Result`).
fn returns_result(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
        _ => false,
    }
}

/// Every rule about the item (as opposed to the arguments) in one place.
fn validate(args: &ReceiptArgs, item: &ItemFn) -> syn::Result<()> {
    if let Some(c) = &item.sig.constness {
        return Err(syn::Error::new(
            c.span,
            "#[receipt] cannot instrument a `const fn`",
        ));
    }
    let names = arg_names(item);
    if let Some((_, hashed)) = &args.hash {
        for h in hashed {
            if !names.iter().any(|n| n == h) {
                return Err(syn::Error::new(
                    h.span(),
                    format!("`{h}` is not an argument of this function"),
                ));
            }
        }
    }
    if let Some((_, items)) = &args.evidence {
        for it in items {
            if it.is_return() {
                if let ReturnType::Default = &item.sig.output {
                    return Err(syn::Error::new(
                        it.name.span(),
                        "`evidence(return)` needs a return value, but this function returns `()`",
                    ));
                }
            } else if !names.contains(&it.name) {
                return Err(syn::Error::new(
                    it.name.span(),
                    format!("`{}` is not an argument of this function", it.name),
                ));
            }
        }
    }
    if let (Some(span), ReturnType::Default) = (args.hash_output, &item.sig.output) {
        return Err(syn::Error::new(
            span,
            "`hash_output` needs a return value, but this function returns `()`",
        ));
    }
    Ok(())
}

/// Parses, validates and expands; on any error, the caller emits the error and the item.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args: ReceiptArgs = syn::parse2(attr)?;
    args.validate()?;
    let item: ItemFn = syn::parse2(item)?;
    validate(&args, &item)?;
    Ok(generate(&args, item))
}

// Input:
//     #[receipt(hash(a), hash_output)] fn f(a: A) -> R { body }
// Output:
//     fn f(a: A) -> R {
//         let __receipt_span = span!(INFO, "<module>::f", receipt.outcome = Empty, …,
//                                    receipt.input = hash_inputs(&[("a", to_json(&a))]));
//         let __receipt_entered = __receipt_span.enter();
//         let __receipt_ret: R = (move || { body })();
//         record_output(&__receipt_span, &__receipt_ret); record_ok(&__receipt_span);
//         __receipt_ret
//     }
// `async fn` instead awaits `async move { body }.instrument(span.clone())`, so no guard is
// held across an `.await`.
fn generate(args: &ReceiptArgs, item: ItemFn) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = item;
    let rt = quote!(::receipt_runtime::__private);
    let fn_name = sig.ident.to_string();
    let stage = match &args.stage {
        Some(lit) => quote!(#lit),
        None => quote!(::core::concat!(::core::module_path!(), "::", #fn_name)),
    };
    let empty = quote!(#rt::tracing::field::Empty);
    let mut fields = vec![
        quote!(receipt.outcome = #empty),
        quote!(receipt.output = #empty),
        quote!(receipt.error = #empty),
    ];
    if let Some(after) = &args.after {
        fields.push(quote!(receipt.after = #after));
    }
    if let Some((_, hashed)) = &args.hash {
        let items = hashed.iter().map(|h| {
            let name = h.to_string();
            quote_spanned!(h.span()=> (#name, #rt::Hashable::to_json(&#h)))
        });
        fields.push(quote!(receipt.input = #rt::hash_inputs(&[#(#items),*]).as_str()));
    }
    if args.skip_all.is_none() {
        for n in arg_names(&ItemFn {
            attrs: Vec::new(),
            vis: vis.clone(),
            sig: sig.clone(),
            block: block.clone(),
        }) {
            let field = format_ident!("{}", n.to_string().trim_start_matches("r#"));
            fields.push(quote!(receipt.arg.#field = #empty));
        }
    }
    let span_expr = quote! {
        #rt::tracing::span!(
            target: ::core::module_path!(),
            #rt::tracing::Level::INFO,
            #stage,
            #(#fields),*
        )
    };

    // Input:  evidence(a, sealed(b), return)
    // Output: evidence_arg("a", Class::Public, &a); evidence_arg("b", Class::Sealed, &b);
    //         and, once the value is known, evidence_arg("return", Class::Public, &ret).
    let class = |sealed: bool| {
        if sealed {
            quote!(#rt::Class::Sealed)
        } else {
            quote!(#rt::Class::Public)
        }
    };
    let (ev_return, ev_args): (Vec<_>, Vec<_>) = args
        .evidence
        .iter()
        .flat_map(|(_, items)| items)
        .partition(|it| it.is_return());
    let ev_args: Vec<TokenStream> = ev_args
        .iter()
        .map(|it| {
            let n = &it.name;
            let key = n.to_string().trim_start_matches("r#").to_owned();
            let c = class(it.sealed);
            quote_spanned!(n.span()=> #rt::evidence_arg(#key, #c, &#n);)
        })
        .collect();
    let ev_return = ev_return
        .first()
        .map(|it| (class(it.sealed), it.name.span()));

    let ret_ty = match &sig.output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => Some((**ty).clone()),
    };
    let is_result = ret_ty.as_ref().is_some_and(returns_result);
    let capture = is_result || args.hash_output.is_some() || ev_return.is_some();
    let is_async = sig.asyncness.is_some();
    // The return value is kept while the stage is entered; an `async fn`'s span is entered
    // again for it, after the future completed (no guard is held across an `.await`).
    let keep_return = |value: TokenStream| {
        ev_return.as_ref().map(|(c, span)| {
            let call = quote_spanned!(*span=> #rt::evidence_arg("return", #c, #value););
            if is_async {
                quote!({
                    let __receipt_again = __receipt_span.enter();
                    #call
                })
            } else {
                call
            }
        })
    };
    let annot = match &ret_ty {
        Some(ty) if !has_impl_trait(ty) => quote!(: #ty),
        Some(_) => quote!(),
        None => quote!(: ()),
    };
    let out_span = ret_ty.as_ref().map_or_else(Span::call_site, |t| t.span());
    let after_call = if is_result {
        let on_ok = args
            .hash_output
            .map(|_| quote_spanned!(out_span=> #rt::record_output(&__receipt_span, __receipt_ok);));
        let keep = keep_return(quote!(__receipt_ok));
        quote! {
            match &__receipt_ret {
                ::core::result::Result::Ok(__receipt_ok) => {
                    #on_ok
                    #keep
                    #rt::record_ok(&__receipt_span);
                }
                ::core::result::Result::Err(__receipt_err) => {
                    #rt::record_err(&__receipt_span, __receipt_err);
                }
            }
        }
    } else {
        let out = args.hash_output.is_some().then(
            || quote_spanned!(out_span=> #rt::record_output(&__receipt_span, &__receipt_ret);),
        );
        let keep = keep_return(quote!(&__receipt_ret));
        quote! {
            #out
            #keep
            #rt::record_ok(&__receipt_span);
        }
    };

    let body = if sig.asyncness.is_some() {
        if capture {
            quote! {
                let __receipt_span = #span_expr;
                let __receipt_ret #annot = #rt::Instrument::instrument(
                    async move { #(#ev_args)* #block },
                    ::core::clone::Clone::clone(&__receipt_span),
                ).await;
                #after_call
                __receipt_ret
            }
        } else {
            quote! {
                let __receipt_span = #span_expr;
                #rt::Instrument::instrument(async move { #(#ev_args)* #block }, __receipt_span).await
            }
        }
    } else if capture {
        quote! {
            let __receipt_span = #span_expr;
            let __receipt_entered = __receipt_span.enter();
            #(#ev_args)*
            #[allow(clippy::redundant_closure_call)]
            let __receipt_ret #annot = (move || #block)();
            #after_call
            __receipt_ret
        }
    } else {
        quote! {
            let __receipt_span = #span_expr;
            let __receipt_entered = __receipt_span.enter();
            #(#ev_args)*
            #block
        }
    };
    quote! {
        #(#attrs)*
        #vis #sig {
            #body
        }
    }
}
