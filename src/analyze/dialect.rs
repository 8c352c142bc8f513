//! SQL as polars reads it: one fix-up of the text before polars parses it
//! (the partition column `cluster` after a comma), and [`parse`], the
//! parser and options polars-sql uses, for the code that reads a statement
//! before polars does (the MCP guard, `analyze::pushdown`).
//!
//! polars' SQL parser accepts trailing commas, so in `SELECT node, cluster`
//! it reads `CLUSTER` (a keyword of Hive's `CLUSTER BY`) as the end of the
//! list and fails with "Expected: end of statement, found: cluster". Every
//! table of the dataset has a `cluster` column, so that would greet most
//! first queries. The column is quoted (`"cluster"`) wherever it follows a
//! comma, which is never a place `CLUSTER BY` can start, so nothing else
//! changes meaning. Qualified names (`a.cluster`) parse fine and are left
//! alone; the bundled queries use them, so they run unchanged everywhere.

use std::borrow::Cow;

use sqlparser::ast::Statement;
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::{Parser, ParserError, ParserOptions};

/// `sql`'s statements as polars-sql parses them: sqlparser's generic
/// dialect, trailing commas allowed.
///
/// # Errors
///
/// sqlparser's, for text that does not parse.
pub(crate) fn parse(sql: &str) -> Result<Vec<Statement>, ParserError> {
    Parser::new(&GenericDialect)
        .with_options(ParserOptions {
            trailing_commas: true,
            ..Default::default()
        })
        .try_with_sql(sql)
        .and_then(|mut parser| parser.parse_statements())
}

/// `sql` with every bare `cluster` that follows a comma double-quoted.
/// Strings, quoted identifiers and comments are not touched.
pub(crate) fn quote_cluster(sql: &str) -> Cow<'_, str> {
    if !sql.to_ascii_lowercase().contains("cluster") {
        return Cow::Borrowed(sql);
    }
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 8);
    let mut last_significant = b' ';
    let mut index = 0;
    let mut copied = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        let skip_to = match byte {
            b'\'' | b'"' | b'`' => closing(bytes, index + 1, byte),
            b'-' if bytes.get(index + 1) == Some(&b'-') => {
                find(bytes, index, b"\n").map_or(bytes.len(), |end| end + 1)
            }
            b'/' if bytes.get(index + 1) == Some(&b'*') => {
                find(bytes, index + 2, b"*/").map_or(bytes.len(), |end| end + 2)
            }
            _ => index,
        };
        if skip_to != index {
            if !matches!(byte, b'-' | b'/') {
                last_significant = byte;
            }
            index = skip_to;
            continue;
        }
        if is_word(byte) {
            let start = index;
            while index < bytes.len() && is_word(bytes[index]) {
                index += 1;
            }
            let word = &sql[start..index];
            if last_significant == b',' && word.eq_ignore_ascii_case("cluster") {
                out.push_str(&sql[copied..start]);
                out.push_str("\"cluster\"");
                copied = index;
            }
            last_significant = b'a';
            continue;
        }
        if !byte.is_ascii_whitespace() {
            last_significant = byte;
        }
        index += 1;
    }
    if copied == 0 {
        return Cow::Borrowed(sql);
    }
    out.push_str(&sql[copied..]);
    Cow::Owned(out)
}

fn is_word(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// The index after the quote closing one opened before `from` (a doubled
/// quote is an escaped one).
fn closing(bytes: &[u8], mut from: usize, quote: u8) -> usize {
    while from < bytes.len() {
        if bytes[from] == quote {
            if bytes.get(from + 1) == Some(&quote) {
                from += 2;
                continue;
            }
            return from + 1;
        }
        from += 1;
    }
    bytes.len()
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|at| from + at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_cluster_after_a_comma_only() {
        assert_eq!(
            quote_cluster("SELECT node, cluster FROM nodes GROUP BY node,CLUSTER"),
            "SELECT node, \"cluster\" FROM nodes GROUP BY node,\"cluster\""
        );
        assert_eq!(
            quote_cluster("SELECT cluster, n.cluster, clusters FROM nodes AS n"),
            "SELECT cluster, n.cluster, clusters FROM nodes AS n"
        );
    }

    #[test]
    fn leaves_strings_quoted_names_and_comments_alone() {
        let sql = "SELECT 'a, cluster', \"x\", -- b, cluster\n a /* c, cluster */ FROM t";
        assert_eq!(quote_cluster(sql), sql);
        assert_eq!(
            quote_cluster("SELECT 'it''s', cluster, \"cluster\" FROM t"),
            "SELECT 'it''s', \"cluster\", \"cluster\" FROM t"
        );
    }
}
