//! SQL text as jobs and command execution receive it: SQL notebooks in Databricks'
//! source format, scripts of several statements, and parameter references.

use std::collections::BTreeMap;

/// The first line of a notebook exported in source format.
const NOTEBOOK_HEADER: &str = "-- Databricks notebook source";
/// The line between two cells of a SQL notebook.
const CELL_SEPARATOR: &str = "-- COMMAND ----------";
const MAGIC_PREFIX: &str = "-- MAGIC";

/// One cell of a SQL notebook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// SQL to run (possibly several statements).
    Sql(String),
    /// A cell the sandbox does not run because it is documentation (`%md`).
    Markdown,
    /// A cell in another language (`%python`, `%scala`, `%sh`, …), named by its magic.
    Other(String),
}

/// Split a SQL notebook's source into cells.
pub fn notebook_cells(source: &str) -> Vec<Cell> {
    let mut lines: Vec<&str> = source.lines().collect();
    if lines.first().is_some_and(|l| l.trim() == NOTEBOOK_HEADER) {
        lines.remove(0);
    }
    let mut cells = Vec::new();
    for chunk in lines.split(|l| l.trim() == CELL_SEPARATOR) {
        let body: Vec<&str> = chunk.iter().copied().filter(|l| !l.trim_start().starts_with("-- DBTITLE")).collect();
        let content: Vec<&str> = body.iter().copied().filter(|l| !l.trim().is_empty()).collect();
        if content.is_empty() {
            continue;
        }
        if content.iter().all(|l| l.trim_start().starts_with(MAGIC_PREFIX)) {
            let stripped: Vec<&str> = body
                .iter()
                .map(|l| {
                    let t = l.trim_start();
                    let rest = t.strip_prefix(MAGIC_PREFIX).unwrap_or(t);
                    rest.strip_prefix(' ').unwrap_or(rest)
                })
                .collect();
            let first = stripped.iter().find(|l| !l.trim().is_empty()).map(|l| l.trim()).unwrap_or("");
            let magic = first.split_whitespace().next().unwrap_or("");
            match magic {
                "%md" | "%md-sandbox" => cells.push(Cell::Markdown),
                "%sql" => {
                    let mut text: Vec<&str> = stripped;
                    if let Some(pos) = text.iter().position(|l| l.trim().starts_with("%sql")) {
                        let after = text[pos].trim().trim_start_matches("%sql");
                        text[pos] = after;
                    }
                    cells.push(Cell::Sql(text.join("\n")));
                }
                m if m.starts_with('%') => cells.push(Cell::Other(m.to_string())),
                _ => cells.push(Cell::Sql(body.join("\n"))),
            }
        } else {
            cells.push(Cell::Sql(body.join("\n")));
        }
    }
    cells
}

/// Where the scanner is inside SQL text.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Code,
    Single,
    Double,
    Backtick,
    LineComment,
    BlockComment,
}

/// Split SQL text into statements at the semicolons that are not inside a string,
/// a quoted identifier or a comment (quotes escape by doubling, as in the engine). Statements made only of comments and blanks are
/// dropped; the others are returned trimmed, without their semicolon.
pub fn split_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut has_code = false;
    let mut mode = Mode::Code;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match mode {
            Mode::Code => match c {
                ';' => {
                    if has_code {
                        out.push(current.trim().to_string());
                    }
                    current.clear();
                    has_code = false;
                    continue;
                }
                '\'' => mode = Mode::Single,
                '"' => mode = Mode::Double,
                '`' => mode = Mode::Backtick,
                '-' if chars.peek() == Some(&'-') => mode = Mode::LineComment,
                '/' if chars.peek() == Some(&'*') => {
                    current.push(c);
                    if let Some(star) = chars.next() {
                        current.push(star);
                    }
                    mode = Mode::BlockComment;
                    continue;
                }
                _ => {}
            },
            Mode::Single | Mode::Double => {
                // A doubled quote closes and reopens, which keeps the scan right.
                let close = if mode == Mode::Single { '\'' } else { '"' };
                if c == close {
                    mode = Mode::Code;
                }
            }
            Mode::Backtick => {
                if c == '`' {
                    mode = Mode::Code;
                }
            }
            Mode::LineComment => {
                if c == '\n' {
                    mode = Mode::Code;
                }
            }
            Mode::BlockComment => {
                if c == '*' && chars.peek() == Some(&'/') {
                    current.push(c);
                    if let Some(slash) = chars.next() {
                        current.push(slash);
                    }
                    mode = Mode::Code;
                    continue;
                }
            }
        }
        if !matches!(mode, Mode::LineComment | Mode::BlockComment) && !c.is_whitespace() {
            has_code = true;
        }
        current.push(c);
    }
    if has_code {
        out.push(current.trim().to_string());
    }
    out
}

/// Fill in parameter references: `${name}` and `{{name}}` are replaced by the value
/// as written (widget-style text substitution), and a named marker `:name` outside
/// strings and comments by the value as a SQL string literal. References to unknown
/// names are left alone.
pub fn substitute(sql: &str, params: &BTreeMap<String, String>) -> String {
    if params.is_empty() {
        return sql.to_string();
    }
    let mut text = sql.to_string();
    for (name, value) in params {
        text = text.replace(&format!("${{{name}}}"), value);
        text = text.replace(&format!("{{{{{name}}}}}"), value);
        text = text.replace(&format!("{{{{ {name} }}}}"), value);
    }
    replace_markers(&text, params)
}

fn replace_markers(sql: &str, params: &BTreeMap<String, String>) -> String {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = String::with_capacity(sql.len());
    let mut mode = Mode::Code;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match mode {
            Mode::Code => match c {
                '\'' => mode = Mode::Single,
                '"' => mode = Mode::Double,
                '`' => mode = Mode::Backtick,
                '-' if next == Some('-') => mode = Mode::LineComment,
                '/' if next == Some('*') => mode = Mode::BlockComment,
                ':' if next.is_some_and(|n| n.is_ascii_alphabetic() || n == '_') && (i == 0 || chars[i - 1] != ':') => {
                    let end = (i + 1..chars.len())
                        .find(|&j| !(chars[j].is_ascii_alphanumeric() || chars[j] == '_'))
                        .unwrap_or(chars.len());
                    let name: String = chars[i + 1..end].iter().collect();
                    if let Some(value) = params.get(&name) {
                        out.push('\'');
                        out.push_str(&value.replace('\'', "''"));
                        out.push('\'');
                        i = end;
                        continue;
                    }
                }
                _ => {}
            },
            Mode::Single | Mode::Double => {
                if (mode == Mode::Single && c == '\'') || (mode == Mode::Double && c == '"') {
                    mode = Mode::Code;
                }
            }
            Mode::Backtick => {
                if c == '`' {
                    mode = Mode::Code;
                }
            }
            Mode::LineComment => {
                if c == '\n' {
                    mode = Mode::Code;
                }
            }
            Mode::BlockComment => {
                if c == '*' && next == Some('/') {
                    out.push(c);
                    out.push('/');
                    i += 2;
                    mode = Mode::Code;
                    continue;
                }
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_top_level_semicolons_only() {
        let sql = "SELECT ';' AS a; -- c; d\nSELECT \"x;y\", `q;r` /* ; */ ;\n-- only a comment;\n ; SELECT 3";
        assert_eq!(
            split_statements(sql),
            vec![
                "SELECT ';' AS a".to_string(),
                "-- c; d\nSELECT \"x;y\", `q;r` /* ; */".to_string(),
                "SELECT 3".to_string(),
            ]
        );
        assert!(split_statements("  -- nothing\n/* at all */ ; ;").is_empty());
        assert_eq!(
            split_statements("SELECT 'it''s;'; SELECT 2"),
            vec!["SELECT 'it''s;'".to_string(), "SELECT 2".into()]
        );
    }

    #[test]
    fn reads_notebook_cells() {
        let source = "-- Databricks notebook source\nSELECT 1\n\n-- COMMAND ----------\n\n-- MAGIC %md\n-- MAGIC # Title\n\n\
                      -- COMMAND ----------\n-- DBTITLE 1,Numbers\nSELECT 2;\nSELECT 3\n-- COMMAND ----------\n\
                      -- MAGIC %python\n-- MAGIC print(1)\n-- COMMAND ----------\n-- MAGIC %sql\n-- MAGIC SELECT 4";
        let cells = notebook_cells(source);
        assert_eq!(cells.len(), 5);
        assert_eq!(cells[0], Cell::Sql("SELECT 1\n".into()));
        assert_eq!(cells[1], Cell::Markdown);
        assert_eq!(cells[2], Cell::Sql("SELECT 2;\nSELECT 3".into()));
        assert_eq!(cells[3], Cell::Other("%python".into()));
        assert!(matches!(&cells[4], Cell::Sql(s) if s.trim() == "SELECT 4"));
    }

    #[test]
    fn substitutes_parameters() {
        let params: BTreeMap<String, String> =
            [("n".to_string(), "5".to_string()), ("who".to_string(), "O'Neil".to_string())].into();
        assert_eq!(substitute("SELECT ${n}, {{n}}, {{ n }}", &params), "SELECT 5, 5, 5");
        assert_eq!(
            substitute("SELECT :who, ':who', x::int, :other -- :who", &params),
            "SELECT 'O''Neil', ':who', x::int, :other -- :who"
        );
    }
}
