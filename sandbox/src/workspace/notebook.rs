//! Notebooks: a language and a list of cells, and the formats they travel in.
//!
//! A cell is kept as the text a user typed. A cell that starts with a magic command
//! (`%md`, `%sql`, …) is written in SOURCE form with every line behind a `MAGIC`
//! comment, the way Databricks does, and read back without it. Markdown cells are
//! `%md` cells; Jupyter documents turn them into `markdown` cells and back.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The header comment that marks a SOURCE file as a notebook.
const HEADER: &str = "Databricks notebook source";
/// The comment line between two cells.
const SEPARATOR: &str = "COMMAND ----------";
/// The comment word in front of each line of a magic cell.
const MAGIC: &str = "MAGIC";
/// The notebook metadata key of Jupyter documents written by Databricks.
const JUPYTER_DATABRICKS_KEY: &str = "application/vnd.databricks.v1+notebook";

/// A notebook language, as the Workspace API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Language {
    Python,
    Scala,
    Sql,
    R,
}

impl Language {
    /// The API name (`PYTHON`, `SCALA`, `SQL`, `R`); case-sensitive, as Databricks is.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "PYTHON" => Some(Self::Python),
            "SCALA" => Some(Self::Scala),
            "SQL" => Some(Self::Sql),
            "R" => Some(Self::R),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Python => "PYTHON",
            Self::Scala => "SCALA",
            Self::Sql => "SQL",
            Self::R => "R",
        }
    }

    /// The line-comment marker of the language.
    pub fn comment(self) -> &'static str {
        match self {
            Self::Python | Self::R => "#",
            Self::Sql => "--",
            Self::Scala => "//",
        }
    }

    /// The file extension of a SOURCE export, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Python => "py",
            Self::Scala => "scala",
            Self::Sql => "sql",
            Self::R => "r",
        }
    }

    /// The language a notebook file extension stands for (`py`, `sql`, `scala`, `r`).
    pub fn from_extension(ext: &str) -> Option<Self> {
        match ext.to_ascii_lowercase().as_str() {
            "py" => Some(Self::Python),
            "scala" => Some(Self::Scala),
            "sql" => Some(Self::Sql),
            "r" => Some(Self::R),
            _ => None,
        }
    }

    fn jupyter_name(self) -> &'static str {
        match self {
            Self::Python => "python",
            Self::Scala => "scala",
            Self::Sql => "sql",
            Self::R => "r",
        }
    }

    fn from_jupyter_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "python" | "python3" => Some(Self::Python),
            "scala" => Some(Self::Scala),
            "sql" => Some(Self::Sql),
            "r" => Some(Self::R),
            _ => None,
        }
    }
}

/// The comment marker of the notebook header on the first line of `text`, if the text
/// starts with one: `#`, `--` or `//`.
pub fn header_comment(text: &str) -> Option<&'static str> {
    let first = text.split('\n').next().unwrap_or("").trim_end();
    ["#", "--", "//"].into_iter().find(|c| first == format!("{c} {HEADER}"))
}

/// A notebook: its language and its cells, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notebook {
    pub language: Language,
    pub cells: Vec<String>,
}

impl Notebook {
    fn new(language: Language, mut cells: Vec<String>) -> Self {
        if cells.is_empty() {
            cells.push(String::new());
        }
        Self { language, cells }
    }

    /// Read SOURCE text: an optional header line, then cells between separator comments.
    pub fn from_source(text: &str, language: Language) -> Self {
        let text = text.replace("\r\n", "\n");
        let c = language.comment();
        let header = format!("{c} {HEADER}");
        let separator = format!("{c} {SEPARATOR}");
        let mut cells = Vec::new();
        let mut current: Vec<&str> = Vec::new();
        for (i, line) in text.split('\n').enumerate() {
            let trimmed = line.trim_end();
            if i == 0 && trimmed == header {
                continue;
            }
            if trimmed == separator {
                cells.push(finish_cell(&current, c));
                current.clear();
            } else {
                current.push(line);
            }
        }
        cells.push(finish_cell(&current, c));
        Self::new(language, cells)
    }

    /// The SOURCE text: the header line, then the cells between separator comments.
    pub fn to_source(&self) -> String {
        let c = self.language.comment();
        let separator = format!("\n\n{c} {SEPARATOR}\n\n");
        let cells: Vec<String> = self
            .cells
            .iter()
            .map(|cell| {
                if cell.starts_with('%') {
                    cell.split('\n')
                        .map(
                            |line| if line.is_empty() { format!("{c} {MAGIC}") } else { format!("{c} {MAGIC} {line}") },
                        )
                        .collect::<Vec<_>>()
                        .join("\n")
                } else {
                    cell.clone()
                }
            })
            .collect();
        format!("{c} {HEADER}\n{}", cells.join(&separator))
    }

    /// Read a Jupyter (nbformat 4) document. The language comes from Databricks'
    /// notebook metadata, the kernel's language info, or defaults to Python.
    pub fn from_jupyter(bytes: &[u8]) -> Result<Self, String> {
        let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("the content is not JSON: {e}"))?;
        let cells = doc.get("cells").and_then(Value::as_array).ok_or("the document has no `cells` array")?;
        let metadata = doc.get("metadata");
        let language = [
            metadata.and_then(|m| m.get(JUPYTER_DATABRICKS_KEY)).and_then(|m| m.get("language")),
            metadata.and_then(|m| m.get("language_info")).and_then(|m| m.get("name")),
            metadata.and_then(|m| m.get("kernelspec")).and_then(|m| m.get("language")),
        ]
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find_map(Language::from_jupyter_name)
        .unwrap_or(Language::Python);
        let mut out = Vec::with_capacity(cells.len());
        for (i, cell) in cells.iter().enumerate() {
            let source = match cell.get("source") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(parts)) => {
                    let mut s = String::new();
                    for part in parts {
                        s.push_str(part.as_str().ok_or_else(|| format!("cell {i} has a non-string source line"))?);
                    }
                    s
                }
                Some(_) => return Err(format!("cell {i} has a source that is neither a string nor a list")),
            };
            match cell.get("cell_type").and_then(Value::as_str) {
                Some("markdown") if source.is_empty() => out.push("%md".to_string()),
                Some("markdown") => out.push(format!("%md\n{source}")),
                Some("code" | "raw") => out.push(source),
                Some(other) => return Err(format!("cell {i} has an unknown cell_type {other:?}")),
                None => return Err(format!("cell {i} has no cell_type")),
            }
        }
        Ok(Self::new(language, out))
    }

    /// A Jupyter (nbformat 4) document with Databricks' notebook metadata.
    pub fn to_jupyter(&self, name: &str) -> Vec<u8> {
        let cells: Vec<Value> = self
            .cells
            .iter()
            .map(|cell| match markdown_body(cell) {
                Some(body) => json!({"cell_type": "markdown", "metadata": {}, "source": jupyter_lines(body)}),
                None => json!({
                    "cell_type": "code",
                    "execution_count": null,
                    "metadata": {},
                    "outputs": [],
                    "source": jupyter_lines(cell),
                }),
            })
            .collect();
        let language = self.language.jupyter_name();
        let doc = json!({
            "cells": cells,
            "metadata": {
                JUPYTER_DATABRICKS_KEY: {"language": language, "notebookName": name},
                "language_info": {"name": language},
            },
            "nbformat": 4,
            "nbformat_minor": 0,
        });
        serde_json::to_vec_pretty(&doc).unwrap_or_default()
    }

    /// A simple self-contained HTML page showing the cells.
    pub fn to_html(&self, name: &str) -> String {
        let mut page = format!(
            "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>{0}</title>\n</head>\n<body>\n<h1>{0}</h1>\n",
            escape_html(name)
        );
        for cell in &self.cells {
            match markdown_body(cell) {
                Some(body) => {
                    page.push_str(&format!("<div class=\"markdown\"><pre>{}</pre></div>\n", escape_html(body)))
                }
                None => page.push_str(&format!(
                    "<pre class=\"code\" data-language=\"{}\">{}</pre>\n",
                    self.language.jupyter_name(),
                    escape_html(cell)
                )),
            }
        }
        page.push_str("</body>\n</html>\n");
        page
    }

    /// An R Markdown document; only R notebooks have one.
    pub fn to_r_markdown(&self) -> Option<String> {
        if self.language != Language::R {
            return None;
        }
        let parts: Vec<String> = self
            .cells
            .iter()
            .map(|cell| match markdown_body(cell) {
                Some(body) => body.to_string(),
                None => format!("```{{r}}\n{cell}\n```"),
            })
            .collect();
        Some(format!("{}\n", parts.join("\n\n")))
    }
}

/// Trim blank lines around a cell and take the `MAGIC` comments off a magic cell.
fn finish_cell(lines: &[&str], comment: &str) -> String {
    let start = lines.iter().position(|l| !l.trim().is_empty()).unwrap_or(lines.len());
    let end = lines.iter().rposition(|l| !l.trim().is_empty()).map_or(start, |i| i + 1);
    let lines = lines.get(start..end).unwrap_or(&[]);
    let magic = format!("{comment} {MAGIC}");
    let is_magic = !lines.is_empty() && lines.iter().filter(|l| !l.trim().is_empty()).all(|l| l.starts_with(&magic));
    if is_magic {
        lines
            .iter()
            .map(|l| {
                let rest = l.strip_prefix(&magic).unwrap_or(l);
                rest.strip_prefix(' ').unwrap_or(rest)
            })
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        lines.join("\n")
    }
}

/// The markdown text of a `%md` cell.
fn markdown_body(cell: &str) -> Option<&str> {
    let rest = cell.strip_prefix("%md")?;
    if rest.is_empty() { Some("") } else { rest.strip_prefix('\n').or_else(|| rest.strip_prefix(' ')) }
}

/// Jupyter's list-of-lines form of a cell source.
fn jupyter_lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_round_trips_with_magic_cells() {
        let text = "# Databricks notebook source\nprint(1)\n\n# COMMAND ----------\n\n# MAGIC %md\n# MAGIC # Title\n# MAGIC\n# MAGIC body\n\n# COMMAND ----------\n\nprint(2)";
        let nb = Notebook::from_source(text, Language::Python);
        assert_eq!(nb.cells, vec!["print(1)", "%md\n# Title\n\nbody", "print(2)"]);
        assert_eq!(nb.to_source(), text);
    }

    #[test]
    fn plain_source_gets_a_header() {
        let nb = Notebook::from_source("SELECT 1;\n", Language::Sql);
        assert_eq!(nb.to_source(), "-- Databricks notebook source\nSELECT 1;");
        assert_eq!(header_comment(&nb.to_source()), Some("--"));
        assert_eq!(header_comment("print(1)"), None);
    }

    #[test]
    fn jupyter_round_trips() {
        let nb = Notebook::from_source(
            "# Databricks notebook source\n# MAGIC %md\n# MAGIC hi\n\n# COMMAND ----------\n\nx = 1\ny = 2",
            Language::Python,
        );
        let back = Notebook::from_jupyter(&nb.to_jupyter("n")).expect("valid ipynb");
        assert_eq!(back, nb);
        assert!(Notebook::from_jupyter(b"{}").is_err());
        assert!(Notebook::from_jupyter(b"not json").is_err());
    }
}
