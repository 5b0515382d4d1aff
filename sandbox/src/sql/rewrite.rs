//! Databricks syntax DataFusion does not parse, rewritten before planning, and
//! named parameter markers bound as typed literals.

use super::engine::Param;
use super::lexer::{self, Kind, Token};
use super::{SqlError, types};

// ---------------------------------------------------------------------------------
// Rewriting Databricks syntax DataFusion does not parse.

pub struct Rewritten {
    pub sql: String,
    /// A table, schema or catalog COMMENT, kept for Unity Catalog.
    pub comment: Option<String>,
}

/// Databricks type names DataFusion spells differently.
fn datafusion_type(word: &str) -> Option<&'static str> {
    Some(match word.to_ascii_uppercase().as_str() {
        "BINARY" => "BYTEA",
        "LONG" => "BIGINT",
        "SHORT" => "SMALLINT",
        "BYTE" => "TINYINT",
        "TIMESTAMP_NTZ" | "TIMESTAMP_LTZ" => "TIMESTAMP",
        _ => return None,
    })
}

/// Where an open parenthesis is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Group {
    /// The column list of CREATE TABLE; the number is the position in the current element.
    Columns(usize),
    /// The arguments of CAST / TRY_CAST.
    Cast,
    Other,
}

/// Respell Databricks type names in type positions: column definitions of CREATE
/// TABLE, `CAST(x AS type)` and `x::type`.
fn rewrite_types(sql: &str, tokens: &[Token]) -> String {
    let kw = |i: usize, k: &str| tokens.get(i).is_some_and(|t| t.is_keyword(k));
    // The index of the "(" opening a CREATE TABLE column list, if any.
    let mut columns_open = None;
    if kw(0, "CREATE") {
        let mut i = 1;
        if kw(i, "OR") && kw(i + 1, "REPLACE") {
            i += 2;
        }
        while kw(i, "TEMPORARY") || kw(i, "EXTERNAL") || kw(i, "UNBOUNDED") {
            i += 1;
        }
        if kw(i, "TABLE") {
            i += 1;
            if kw(i, "IF") && kw(i + 1, "NOT") && kw(i + 2, "EXISTS") {
                i += 3;
            }
            if lexer::dotted_name(tokens, &mut i).is_some() && tokens.get(i).is_some_and(|t| t.is_punct("(")) {
                columns_open = Some(i);
            }
        }
    }
    let mut stack: Vec<Group> = Vec::new();
    let mut replacements: Vec<(usize, usize, &'static str)> = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        if t.is_punct("(") {
            let group = if Some(i) == columns_open {
                Group::Columns(0)
            } else if i > 0 && (kw(i - 1, "CAST") || kw(i - 1, "TRY_CAST")) {
                Group::Cast
            } else {
                Group::Other
            };
            stack.push(group);
            continue;
        }
        if t.is_punct(")") {
            stack.pop();
            continue;
        }
        let mut type_position = i > 0 && tokens[i - 1].is_punct("::");
        match stack.last_mut() {
            Some(Group::Columns(pos)) if t.is_punct(",") => *pos = 0,
            Some(Group::Columns(pos)) => {
                *pos += 1;
                type_position |= *pos == 2;
            }
            Some(Group::Cast) => type_position |= i > 0 && kw(i - 1, "AS"),
            _ => {}
        }
        if type_position
            && let Kind::Word(w) = &t.kind
            && let Some(replacement) = datafusion_type(w)
        {
            replacements.push((t.start, t.end, replacement));
        }
    }
    let mut out = String::with_capacity(sql.len());
    let mut cursor = 0;
    for (start, end, replacement) in replacements {
        out.push_str(&sql[cursor..start]);
        out.push_str(replacement);
        cursor = end;
    }
    out.push_str(&sql[cursor..]);
    out
}

/// Rewrite `CREATE CATALOG` to DataFusion's `CREATE DATABASE`, and drop the
/// Databricks-only clauses of `CREATE TABLE`/`CREATE SCHEMA`, keeping any COMMENT.
pub fn rewrite(sql: &str, tokens: &[Token]) -> Result<Rewritten, SqlError> {
    let typed = rewrite_types(sql, tokens);
    let retokenized;
    let (sql, tokens) = if typed == sql {
        (sql, tokens)
    } else {
        retokenized = lexer::without_semicolon(
            lexer::tokenize(&typed).map_err(|e| SqlError::new("PARSE_SYNTAX_ERROR", &e.0, "42601"))?,
        );
        (typed.as_str(), retokenized.as_slice())
    };
    let kw = |i: usize, k: &str| tokens.get(i).is_some_and(|t| t.is_keyword(k));
    if !kw(0, "CREATE") {
        return Ok(Rewritten { sql: sql.to_string(), comment: None });
    }
    let mut i = 1;
    if kw(i, "OR") && kw(i + 1, "REPLACE") {
        i += 2;
    }
    let mut out = String::new();
    let mut cursor = 0;
    let mut comment = None;
    if kw(i, "CATALOG") {
        let t = &tokens[i];
        out.push_str(&sql[cursor..t.start]);
        out.push_str("DATABASE");
        cursor = t.end;
        i += 1;
    } else if kw(i, "SCHEMA") || kw(i, "DATABASE") || kw(i, "TABLE") {
        i += 1;
    } else {
        return Ok(Rewritten { sql: sql.to_string(), comment: None });
    }
    // Skip to the end of the name (and its column list, for tables).
    while i < tokens.len() && !tokens[i].is_punct("(") && !is_clause_start(tokens, i) && !kw(i, "AS") {
        i += 1;
    }
    if tokens.get(i).is_some_and(|t| t.is_punct("(")) {
        i = skip_parens(tokens, i)?;
    }
    // Clauses at the top level until AS (the CTAS query) or the end.
    while i < tokens.len() {
        if kw(i, "AS") {
            break;
        }
        let clause_end = if kw(i, "USING") || kw(i, "LOCATION") || kw(i, "MANAGED") && kw(i + 1, "LOCATION") {
            let skip = if kw(i, "MANAGED") { 3 } else { 2 };
            Some(i + skip)
        } else if kw(i, "COMMENT") {
            if let Some(Token { kind: Kind::Str(s), .. }) = tokens.get(i + 1) {
                comment = Some(s.clone());
            }
            Some(i + 2)
        } else if kw(i, "TBLPROPERTIES") || kw(i, "OPTIONS") || kw(i, "DBPROPERTIES") {
            Some(skip_parens(tokens, i + 1)?)
        } else if (kw(i, "PARTITIONED") || kw(i, "CLUSTER")) && kw(i + 1, "BY") {
            if tokens.get(i + 2).is_some_and(|t| t.is_punct("(")) {
                Some(skip_parens(tokens, i + 2)?)
            } else {
                Some(i + 3)
            }
        } else if kw(i, "WITH") && kw(i + 1, "DBPROPERTIES") {
            Some(skip_parens(tokens, i + 2)?)
        } else {
            None
        };
        match clause_end {
            Some(end) => {
                let start = tokens[i].start;
                out.push_str(&sql[cursor..start]);
                cursor = tokens.get(end.min(tokens.len()) - 1).map(|t| t.end).unwrap_or(sql.len());
                i = end;
            }
            None => i += 1,
        }
    }
    out.push_str(&sql[cursor..]);
    Ok(Rewritten { sql: out, comment })
}

fn is_clause_start(tokens: &[Token], i: usize) -> bool {
    ["USING", "COMMENT", "TBLPROPERTIES", "LOCATION", "OPTIONS", "PARTITIONED", "CLUSTER", "MANAGED", "DBPROPERTIES"]
        .iter()
        .any(|k| tokens[i].is_keyword(k))
        || (tokens[i].is_keyword("WITH") && tokens.get(i + 1).is_some_and(|t| t.is_keyword("DBPROPERTIES")))
}

/// The index after the parenthesis group opening at `open`.
fn skip_parens(tokens: &[Token], open: usize) -> Result<usize, SqlError> {
    if !tokens.get(open).is_some_and(|t| t.is_punct("(")) {
        return Err(SqlError::new("PARSE_SYNTAX_ERROR", "Syntax error: expected '('.", "42601"));
    }
    let mut depth = 0usize;
    for (j, t) in tokens.iter().enumerate().skip(open) {
        if t.is_punct("(") {
            depth += 1;
        } else if t.is_punct(")") {
            depth -= 1;
            if depth == 0 {
                return Ok(j + 1);
            }
        }
    }
    Err(SqlError::new("PARSE_SYNTAX_ERROR", "Syntax error: unbalanced parentheses.", "42601"))
}

// ---------------------------------------------------------------------------------
// Parameters.

/// Replace each `:name` marker with its value as a typed SQL literal.
pub fn bind_parameters(sql: &str, params: &[Param]) -> Result<String, SqlError> {
    let tokens = lexer::tokenize(sql).map_err(|e| SqlError::new("PARSE_SYNTAX_ERROR", &e.0, "42601"))?;
    let markers: Vec<&Token> = tokens.iter().filter(|t| matches!(t.kind, Kind::Param(_))).collect();
    if markers.is_empty() {
        return Ok(sql.to_string());
    }
    let mut out = String::with_capacity(sql.len());
    let mut cursor = 0;
    for marker in markers {
        let Kind::Param(name) = &marker.kind else { continue };
        let Some(param) = params.iter().find(|p| p.name == *name) else {
            return Err(SqlError::new(
                "UNBOUND_SQL_PARAMETER",
                &format!(
                    "Found the unbound parameter: {name}. Please, fix `args` and provide a mapping of the parameter to either a SQL literal or collection constructor functions such as `map()`, `array()`, `struct()`."
                ),
                "42P02",
            ));
        };
        out.push_str(&sql[cursor..marker.start]);
        out.push_str(&parameter_literal(param)?);
        cursor = marker.end;
    }
    out.push_str(&sql[cursor..]);
    Ok(out)
}

/// A parameter as a SQL literal of its declared type (STRING when none).
pub fn parameter_literal(param: &Param) -> Result<String, SqlError> {
    let declared = param.type_.as_deref().map(str::trim).filter(|t| !t.is_empty()).unwrap_or("STRING");
    let Some(cast) = types::parameter_cast_type(declared) else {
        return Err(SqlError::new(
            "UNSUPPORTED_DATATYPE",
            &format!("Unsupported data type \"{declared}\" for parameter {}.", param.name),
            "0A000",
        ));
    };
    Ok(match &param.value {
        None => format!("CAST(NULL AS {cast})"),
        Some(v) if cast == "STRING" => lexer::quote_str(v),
        Some(v) => format!("CAST({} AS {cast})", lexer::quote_str(v)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, value: Option<&str>, ty: Option<&str>) -> Param {
        Param { name: name.into(), value: value.map(Into::into), type_: ty.map(Into::into) }
    }

    #[test]
    fn binds_typed_parameters_outside_strings_and_casts() {
        let sql = "SELECT :a, ':a', x::int, :b FROM t WHERE c = :a";
        let bound = bind_parameters(sql, &[p("a", Some("it's"), None), p("b", Some("5"), Some("INT"))]).expect("binds");
        assert_eq!(bound, "SELECT 'it''s', ':a', x::int, CAST('5' AS INT) FROM t WHERE c = 'it''s'");
        let err = bind_parameters("SELECT :missing", &[]).expect_err("unbound");
        assert!(err.message.starts_with("[UNBOUND_SQL_PARAMETER]"));
        let null = bind_parameters("SELECT :n", &[p("n", None, Some("DECIMAL(10,2)"))]).expect("binds");
        assert_eq!(null, "SELECT CAST(NULL AS DECIMAL(10,2))");
    }

    #[test]
    fn rewrites_databricks_table_clauses() {
        let sql =
            "CREATE TABLE t (a INT, b STRING) USING DELTA COMMENT 'hi' TBLPROPERTIES ('x' = 'y') PARTITIONED BY (a)";
        let tokens = lexer::tokenize(sql).expect("tokens");
        let r = rewrite(sql, &tokens).expect("rewrites");
        assert_eq!(r.sql.split_whitespace().collect::<Vec<_>>().join(" "), "CREATE TABLE t (a INT, b STRING)");
        assert_eq!(r.comment.as_deref(), Some("hi"));
        let sql = "CREATE CATALOG IF NOT EXISTS c COMMENT 'x'";
        let r = rewrite(sql, &lexer::tokenize(sql).expect("tokens")).expect("rewrites");
        assert_eq!(r.sql.trim(), "CREATE DATABASE IF NOT EXISTS c");
        let sql = "CREATE TABLE t (a BINARY, b DECIMAL(10, 2), c LONG) USING DELTA";
        let r = rewrite(sql, &lexer::tokenize(sql).expect("tokens")).expect("rewrites");
        assert_eq!(r.sql.trim(), "CREATE TABLE t (a BYTEA, b DECIMAL(10, 2), c BIGINT)");
        let sql = "SELECT CAST(x AS BINARY), y::long, binary FROM t";
        let r = rewrite(sql, &lexer::tokenize(sql).expect("tokens")).expect("rewrites");
        assert_eq!(r.sql, "SELECT CAST(x AS BYTEA), y::BIGINT, binary FROM t");
        let sql = "CREATE TABLE t USING DELTA AS SELECT 1 AS a";
        let r = rewrite(sql, &lexer::tokenize(sql).expect("tokens")).expect("rewrites");
        assert_eq!(r.sql.split_whitespace().collect::<Vec<_>>().join(" "), "CREATE TABLE t AS SELECT 1 AS a");
    }
}
