//! A small SQL tokenizer: enough to find parameter markers, recognise the Databricks
//! commands DataFusion does not speak (SHOW …, DESCRIBE …, CREATE CATALOG) and strip
//! table clauses it does not understand, without ever looking inside string literals,
//! quoted identifiers or comments.

/// One token and where it sits in the statement text (byte offsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A bare word: keyword or identifier, as written.
    Word(String),
    /// A `backtick`-quoted identifier, unquoted.
    Quoted(String),
    /// A string literal ('…' or "…"), unquoted.
    Str(String),
    Number(String),
    /// `:name`, a named parameter marker (never part of a `::` cast).
    Param(String),
    /// Any other single character, or `::`.
    Punct(String),
}

impl Token {
    /// The word in upper case, if this is a bare word.
    pub fn keyword(&self) -> Option<String> {
        match &self.kind {
            Kind::Word(w) => Some(w.to_ascii_uppercase()),
            _ => None,
        }
    }

    pub fn is_keyword(&self, kw: &str) -> bool {
        matches!(&self.kind, Kind::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    pub fn is_punct(&self, p: &str) -> bool {
        matches!(&self.kind, Kind::Punct(x) if x == p)
    }

    /// An identifier (bare or quoted), as Databricks resolves it: bare words are
    /// case-insensitive (lower-cased), quoted ones kept as written.
    pub fn ident(&self) -> Option<String> {
        match &self.kind {
            Kind::Word(w) => Some(w.to_ascii_lowercase()),
            Kind::Quoted(q) => Some(q.clone()),
            _ => None,
        }
    }
}

/// Why a statement could not be tokenized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError(pub String);

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_part(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// Split `sql` into tokens, skipping whitespace and comments.
pub fn tokenize(sql: &str) -> Result<Vec<Token>, LexError> {
    let chars: Vec<(usize, char)> = sql.char_indices().collect();
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let offset = |i: usize| chars.get(i).map(|&(o, _)| o).unwrap_or(sql.len());
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(c) = at(i) {
        let start = offset(i);
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        // Comments.
        if c == '-' && at(i + 1) == Some('-') {
            while let Some(c) = at(i) {
                if c == '\n' {
                    break;
                }
                i += 1;
            }
            continue;
        }
        if c == '/' && at(i + 1) == Some('*') {
            let mut depth = 0usize;
            loop {
                match (at(i), at(i + 1)) {
                    (Some('/'), Some('*')) => {
                        depth += 1;
                        i += 2;
                    }
                    (Some('*'), Some('/')) => {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    }
                    (Some(_), _) => i += 1,
                    (None, _) => return Err(LexError("Unclosed comment: a /* has no matching */.".into())),
                }
            }
            continue;
        }
        // Strings and quoted identifiers: the quote doubled stands for itself.
        if c == '\'' || c == '"' || c == '`' {
            let quote = c;
            let mut text = String::new();
            i += 1;
            loop {
                match at(i) {
                    None => {
                        let what = if quote == '`' { "quoted identifier" } else { "string literal" };
                        return Err(LexError(format!("Unclosed {what} starting at position {start}.")));
                    }
                    Some(ch) if ch == quote => {
                        if at(i + 1) == Some(quote) {
                            text.push(quote);
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(ch) => {
                        text.push(ch);
                        i += 1;
                    }
                }
            }
            let kind = if quote == '`' { Kind::Quoted(text) } else { Kind::Str(text) };
            tokens.push(Token { kind, start, end: offset(i) });
            continue;
        }
        if c == ':' {
            if at(i + 1) == Some(':') {
                tokens.push(Token { kind: Kind::Punct("::".into()), start, end: offset(i + 2) });
                i += 2;
                continue;
            }
            if at(i + 1).is_some_and(is_ident_start) {
                let mut j = i + 1;
                while at(j).is_some_and(is_ident_part) {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().map(|&(_, c)| c).collect();
                tokens.push(Token { kind: Kind::Param(name), start, end: offset(j) });
                i = j;
                continue;
            }
            if at(i + 1) == Some('`') {
                // :`name with spaces`
                let mut j = i + 2;
                let mut name = String::new();
                loop {
                    match at(j) {
                        None => return Err(LexError(format!("Unclosed parameter name starting at position {start}."))),
                        Some('`') if at(j + 1) == Some('`') => {
                            name.push('`');
                            j += 2;
                        }
                        Some('`') => {
                            j += 1;
                            break;
                        }
                        Some(ch) => {
                            name.push(ch);
                            j += 1;
                        }
                    }
                }
                tokens.push(Token { kind: Kind::Param(name), start, end: offset(j) });
                i = j;
                continue;
            }
        }
        if c.is_ascii_digit() || (c == '.' && at(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            let mut j = i;
            while at(j).is_some_and(|d| d.is_ascii_alphanumeric() || d == '.') {
                j += 1;
            }
            let text: String = chars[i..j].iter().map(|&(_, c)| c).collect();
            tokens.push(Token { kind: Kind::Number(text), start, end: offset(j) });
            i = j;
            continue;
        }
        if is_ident_start(c) {
            let mut j = i;
            while at(j).is_some_and(is_ident_part) {
                j += 1;
            }
            let text: String = chars[i..j].iter().map(|&(_, c)| c).collect();
            tokens.push(Token { kind: Kind::Word(text), start, end: offset(j) });
            i = j;
            continue;
        }
        tokens.push(Token { kind: Kind::Punct(c.to_string()), start, end: offset(i + 1) });
        i += 1;
    }
    Ok(tokens)
}

/// The tokens without a trailing `;`.
pub fn without_semicolon(mut tokens: Vec<Token>) -> Vec<Token> {
    while tokens.last().is_some_and(|t| t.is_punct(";")) {
        tokens.pop();
    }
    tokens
}

/// Parse a dotted name (`a`, `a.b`, `` `a`.b.c ``) starting at `tokens[*pos]`.
pub fn dotted_name(tokens: &[Token], pos: &mut usize) -> Option<Vec<String>> {
    let mut parts = vec![tokens.get(*pos)?.ident()?];
    *pos += 1;
    while tokens.get(*pos).is_some_and(|t| t.is_punct(".")) {
        parts.push(tokens.get(*pos + 1)?.ident()?);
        *pos += 2;
    }
    Some(parts)
}

/// Quote an identifier for DataFusion (which reads `"…"` as a quoted identifier in
/// the generic dialect, and `` `…` `` in the Databricks one).
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A SQL string literal for `value`.
pub fn quote_str(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<Kind> {
        tokenize(sql).expect("tokenizes").into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn params_are_not_found_in_strings_casts_or_comments() {
        let k = kinds("SELECT ':x', a::int, :y -- :z\n /* :w */ FROM `t:v`");
        let params: Vec<_> = k.iter().filter(|k| matches!(k, Kind::Param(_))).collect();
        assert_eq!(params, vec![&Kind::Param("y".into())]);
    }

    #[test]
    fn doubled_quotes_and_unclosed_strings() {
        assert_eq!(kinds("'it''s'"), vec![Kind::Str("it's".into())]);
        assert!(tokenize("'open").is_err());
        assert!(tokenize("/* open").is_err());
    }
}
