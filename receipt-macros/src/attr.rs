//! Parsing of the `#[receipt(..)]` arguments.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Ident, LitStr, Token};

mod kw {
    syn::custom_keyword!(stage);
    syn::custom_keyword!(hash);
    syn::custom_keyword!(hash_output);
    syn::custom_keyword!(skip_all);
    syn::custom_keyword!(after);
    syn::custom_keyword!(evidence);
    syn::custom_keyword!(sealed);
}

/// One item of `evidence(..)`: an argument name or `return`, kept public or sealed.
pub(crate) struct EvidenceItem {
    /// The argument, or the `return` keyword for the return value.
    pub(crate) name: Ident,
    /// Written as `sealed(name)`.
    pub(crate) sealed: bool,
}

impl EvidenceItem {
    /// Whether this item is the return value.
    pub(crate) fn is_return(&self) -> bool {
        self.name == "return"
    }
}

impl Parse for EvidenceItem {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(kw::sealed) && input.peek2(syn::token::Paren) {
            input.parse::<kw::sealed>()?;
            let content;
            syn::parenthesized!(content in input);
            let name = syn::ext::IdentExt::parse_any(&content)?;
            if !content.is_empty() {
                return Err(content.error("`sealed(..)` takes one name"));
            }
            return Ok(EvidenceItem { name, sealed: true });
        }
        Ok(EvidenceItem {
            name: syn::ext::IdentExt::parse_any(input)?,
            sealed: false,
        })
    }
}

/// The arguments as written, each at most once.
#[derive(Default)]
pub(crate) struct ReceiptArgs {
    /// `stage = "name"`.
    pub(crate) stage: Option<LitStr>,
    /// `hash(a, b)`: the keyword's span and the argument names.
    pub(crate) hash: Option<(Span, Vec<Ident>)>,
    /// `hash_output`.
    pub(crate) hash_output: Option<Span>,
    /// `skip_all`.
    pub(crate) skip_all: Option<Span>,
    /// `after = "stage"`.
    pub(crate) after: Option<LitStr>,
    /// `evidence(a, sealed(b), return)`: the keyword's span and the items.
    pub(crate) evidence: Option<(Span, Vec<EvidenceItem>)>,
}

/// Stores `value` in `slot`, or reports the second occurrence at `span`.
fn set_once<T>(slot: &mut Option<T>, value: T, span: Span, name: &str) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(
            span,
            format!("duplicate `{name}` argument: it may be given at most once"),
        ));
    }
    *slot = Some(value);
    Ok(())
}

impl Parse for ReceiptArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = ReceiptArgs::default();
        while !input.is_empty() {
            let lookahead = input.lookahead1();
            if lookahead.peek(kw::stage) {
                let k: kw::stage = input.parse()?;
                input.parse::<Token![=]>()?;
                let lit: LitStr = input.parse()?;
                set_once(&mut args.stage, lit, k.span, "stage")?;
            } else if lookahead.peek(kw::hash_output) {
                let k: kw::hash_output = input.parse()?;
                set_once(&mut args.hash_output, k.span, k.span, "hash_output")?;
            } else if lookahead.peek(kw::hash) {
                let k: kw::hash = input.parse()?;
                let content;
                syn::parenthesized!(content in input);
                let names = Punctuated::<Ident, Token![,]>::parse_terminated_with(
                    &content,
                    syn::ext::IdentExt::parse_any,
                )?;
                if names.is_empty() {
                    return Err(syn::Error::new(
                        k.span,
                        "`hash(..)` needs at least one argument name",
                    ));
                }
                set_once(
                    &mut args.hash,
                    (k.span, names.into_iter().collect()),
                    k.span,
                    "hash",
                )?;
            } else if lookahead.peek(kw::skip_all) {
                let k: kw::skip_all = input.parse()?;
                set_once(&mut args.skip_all, k.span, k.span, "skip_all")?;
            } else if lookahead.peek(kw::evidence) {
                let k: kw::evidence = input.parse()?;
                let content;
                syn::parenthesized!(content in input);
                let items = Punctuated::<EvidenceItem, Token![,]>::parse_terminated(&content)?;
                if items.is_empty() {
                    return Err(syn::Error::new(
                        k.span,
                        "`evidence(..)` needs at least one argument name (or `return`)",
                    ));
                }
                set_once(
                    &mut args.evidence,
                    (k.span, items.into_iter().collect()),
                    k.span,
                    "evidence",
                )?;
            } else if lookahead.peek(kw::after) {
                let k: kw::after = input.parse()?;
                input.parse::<Token![=]>()?;
                let lit: LitStr = input.parse()?;
                set_once(&mut args.after, lit, k.span, "after")?;
            } else {
                return Err(lookahead.error());
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

impl ReceiptArgs {
    /// Checks the rules that involve more than one argument, or a literal's content.
    pub(crate) fn validate(&self) -> syn::Result<()> {
        for lit in self.stage.iter().chain(&self.after) {
            if lit.value().is_empty() {
                return Err(syn::Error::new(lit.span(), "a stage name cannot be empty"));
            }
        }
        if let (Some(skip), Some(_)) = (self.skip_all, &self.hash) {
            return Err(syn::Error::new(
                skip,
                "`skip_all` cannot be combined with `hash(..)`: `skip_all` records nothing about the arguments",
            ));
        }
        if let (Some(skip), Some(_)) = (self.skip_all, &self.evidence) {
            return Err(syn::Error::new(
                skip,
                "`skip_all` cannot be combined with `evidence(..)`: `skip_all` records nothing about the arguments",
            ));
        }
        if let Some((_, items)) = &self.evidence {
            for (i, it) in items.iter().enumerate() {
                if items[..i].iter().any(|m| m.name == it.name) {
                    return Err(syn::Error::new(
                        it.name.span(),
                        format!("`{}` is named twice in `evidence(..)`", it.name),
                    ));
                }
            }
        }
        if let Some((_, names)) = &self.hash {
            for (i, n) in names.iter().enumerate() {
                if names[..i].iter().any(|m| m == n) {
                    return Err(syn::Error::new(
                        n.span(),
                        format!("`{n}` is named twice in `hash(..)`"),
                    ));
                }
            }
        }
        Ok(())
    }
}
