//! Expansion of `#[tool]`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, LitStr, Meta};

/// Toolset ids and the `Toolset` variant each maps to.
const TOOLSETS: &[(&str, &str)] = &[
    ("compute", "Compute"),
    ("command_execution", "CommandExecution"),
    ("jobs", "Jobs"),
    ("workspace", "Workspace"),
    ("dbfs", "Dbfs"),
    ("sql", "Sql"),
    ("unity_catalog", "UnityCatalog"),
    ("identity", "Identity"),
];

#[derive(Default)]
struct Args {
    name: Option<LitStr>,
    title: Option<LitStr>,
    toolset: Option<LitStr>,
    read_only: Option<bool>,
    destructive: bool,
    idempotent: Option<bool>,
    operations: Vec<LitStr>,
}

fn flag(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<bool> {
    if meta.input.peek(syn::Token![=]) { Ok(meta.value()?.parse::<syn::LitBool>()?.value) } else { Ok(true) }
}

fn parse_args(attr: TokenStream) -> syn::Result<Args> {
    let mut args = Args::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            args.name = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("title") {
            args.title = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("toolset") {
            args.toolset = Some(meta.value()?.parse()?);
        } else if meta.path.is_ident("read_only") {
            args.read_only = Some(flag(&meta)?);
        } else if meta.path.is_ident("destructive") {
            args.destructive = flag(&meta)?;
        } else if meta.path.is_ident("idempotent") {
            args.idempotent = Some(flag(&meta)?);
        } else if meta.path.is_ident("operation") {
            args.operations.push(meta.value()?.parse()?);
        } else if meta.path.is_ident("operations") {
            let value = meta.value()?;
            let list;
            syn::bracketed!(list in value);
            args.operations.extend(list.parse_terminated(|p| p.parse::<LitStr>(), syn::Token![,])?);
        } else {
            return Err(meta.error(
                "unknown #[tool] field; expected one of: toolset, read_only, destructive, idempotent, operation, operations, name, title",
            ));
        }
        Ok(())
    });
    syn::parse::Parser::parse2(parser, attr)?;
    Ok(args)
}

fn doc_comment(item: &ItemFn) -> String {
    let lines: Vec<String> = item
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .map(|l| l.strip_prefix(' ').unwrap_or(&l).to_string())
        .collect();
    lines.join("\n").trim().to_string()
}

pub fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args = parse_args(attr)?;
    let func: ItemFn = syn::parse2(item)?;
    let sig = &func.sig;

    if sig.asyncness.is_none() {
        return Err(syn::Error::new(sig.fn_token.span(), "#[tool] functions must be `async fn`"));
    }
    let Some(toolset) = &args.toolset else {
        return Err(syn::Error::new(
            Span::call_site(),
            "#[tool] needs `toolset = \"...\"`, one of: compute, command_execution, jobs, workspace, dbfs, sql, unity_catalog, identity",
        ));
    };
    let Some((_, variant)) = TOOLSETS.iter().find(|(id, _)| *id == toolset.value()) else {
        let valid: Vec<&str> = TOOLSETS.iter().map(|(id, _)| *id).collect();
        return Err(syn::Error::new(
            toolset.span(),
            format!("unknown toolset {:?}; expected one of: {}", toolset.value(), valid.join(", ")),
        ));
    };
    let Some(read_only) = args.read_only else {
        return Err(syn::Error::new(
            Span::call_site(),
            "#[tool] needs an explicit read-only decision: add `read_only` or `read_only = false`",
        ));
    };
    if read_only && args.destructive {
        return Err(syn::Error::new(Span::call_site(), "a tool cannot be both `read_only` and `destructive`"));
    }
    let description = doc_comment(&func);
    if description.is_empty() {
        return Err(syn::Error::new(
            sig.ident.span(),
            "#[tool] functions need a doc comment: it becomes the tool's description",
        ));
    }
    let name = args.name.as_ref().map(LitStr::value).unwrap_or_else(|| sig.ident.to_string());
    let valid_name = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid_name {
        let span = args.name.as_ref().map_or(sig.ident.span(), LitStr::span);
        return Err(syn::Error::new(span, "tool names are snake_case `verb_noun`, at most 64 characters"));
    }

    let inputs: Vec<&FnArg> = sig.inputs.iter().collect();
    let [FnArg::Typed(_ctx), FnArg::Typed(arg)] = inputs.as_slice() else {
        return Err(syn::Error::new(
            sig.inputs.span(),
            "#[tool] functions take exactly two arguments: `ctx: ToolContext, args: <ArgsStruct>`",
        ));
    };
    let arg_ty = &arg.ty;
    let ident = &sig.ident;
    let variant = syn::Ident::new(variant, toolset.span());
    let idempotent = args.idempotent.unwrap_or(read_only);
    let destructive = args.destructive;
    let operations = &args.operations;
    let title = match &args.title {
        Some(t) => quote!(::core::option::Option::Some(#t)),
        None => quote!(::core::option::Option::None),
    };
    let registry = quote!(::databricks_mcp::registry);
    // Spanned at the argument type, so a type without JsonSchema or Deserialize is
    // reported where it is named.
    let schema_fn = quote_spanned! {arg_ty.span()=> #registry::input_schema::<#arg_ty> };
    let parse = quote_spanned! {arg_ty.span()=> #registry::parse_args::<#arg_ty>(args) };
    let check = quote_spanned! {arg_ty.span()=> #registry::check_args::<#arg_ty> };

    Ok(quote! {
        #func

        ::databricks_mcp::inventory::submit! {
            #registry::ToolDef {
                name: #name,
                title: #title,
                description: #description,
                toolset: #registry::Toolset::#variant,
                read_only: #read_only,
                destructive: #destructive,
                idempotent: #idempotent,
                operations: &[#(#operations),*],
                input_schema: #schema_fn,
                check_args: #check,
                call: |ctx, args| ::std::boxed::Box::pin(async move {
                    let args = #parse?;
                    #ident(ctx, args).await
                }),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use quote::quote;

    /// Expand, format with prettyplease, and compare with the snapshot in tests/expand/.
    fn snapshot(name: &str, attr: proc_macro2::TokenStream, item: proc_macro2::TokenStream) {
        let tokens = super::expand(attr, item).expect("expands");
        let file: syn::File = syn::parse2(tokens).expect("parses");
        expectorate::assert_contents(format!("tests/expand/{name}.expanded.rs"), &prettyplease::unparse(&file));
    }

    #[test]
    fn read_only_tool() {
        snapshot(
            "get_cluster",
            quote!(toolset = "compute", read_only, operation = "clusters_get"),
            quote! {
                /// Get one cluster.
                pub async fn get_cluster(ctx: ToolContext, args: GetClusterArgs) -> ToolResult {
                    todo_body(ctx, args).await
                }
            },
        );
    }

    #[test]
    fn destructive_tool_with_a_name_and_title() {
        snapshot(
            "terminate",
            quote!(
                toolset = "compute",
                read_only = false,
                destructive,
                name = "terminate_cluster",
                title = "Terminate a cluster",
                operations = ["clusters_delete", "clusters_get"]
            ),
            quote! {
                /// Terminate a cluster.
                ///
                /// It can be started again.
                async fn terminate(ctx: ToolContext, args: TerminateArgs) -> ToolResult {
                    body(ctx, args).await
                }
            },
        );
    }

    #[test]
    fn errors_name_the_fix() {
        let item = quote! { /// Doc.
        async fn f(ctx: ToolContext, args: A) -> ToolResult { x() } };
        let cases = [
            (quote!(toolset = "compute"), "read_only"),
            (quote!(read_only), "toolset"),
            (quote!(toolset = "nope", read_only), "unknown toolset \"nope\""),
            (quote!(toolset = "compute", read_only, frobnicate), "unknown #[tool] field"),
            (quote!(toolset = "compute", read_only, name = "Bad-Name"), "snake_case"),
        ];
        for (attr, needle) in cases {
            let err = super::expand(attr, item.clone()).expect_err("refused").to_string();
            assert!(err.contains(needle), "{err}");
        }
        let two_args = quote! { /// Doc.
        async fn f(ctx: ToolContext) -> ToolResult { x() } };
        let err = super::expand(quote!(toolset = "sql", read_only), two_args).expect_err("refused").to_string();
        assert!(err.contains("exactly two arguments"), "{err}");
    }
}
