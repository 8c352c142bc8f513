//! The server's resources: the dataset's schema (docs/schema.md, which a
//! test holds to the code) and the bundled queries (queries/*.sql), the
//! same text `kubetally query -n NAME` runs. Both are compiled in: reading
//! them touches no file.

use crate::analyze;

/// The schema's URI.
pub const SCHEMA_URI: &str = "kubetally://schema";
/// A bundled query's URI is this followed by its name.
pub const QUERY_PREFIX: &str = "kubetally://queries/";

const SCHEMA: &str = include_str!("../../docs/schema.md");

/// One resource: URI, name, description, MIME type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub uri: String,
    pub name: String,
    pub description: String,
    pub mime_type: &'static str,
}

/// Every resource.
///
/// # Errors
///
/// When a bundled query does not parse (a test keeps that from shipping).
pub fn list() -> Result<Vec<Entry>, analyze::AnalyzeError> {
    let mut entries = vec![Entry {
        uri: SCHEMA_URI.to_owned(),
        name: "schema".to_owned(),
        description: "The dataset's tables and columns with types and units (docs/schema.md)"
            .to_owned(),
        mime_type: "text/markdown",
    }];
    for bundled in analyze::bundled()? {
        let params = bundled.query.params_summary();
        let mut description = bundled.query.description.clone().unwrap_or_default();
        if !params.is_empty() {
            description.push_str(&format!(" (params: {params})"));
        }
        entries.push(Entry {
            uri: format!("{QUERY_PREFIX}{}", bundled.name()),
            name: bundled.name().to_owned(),
            description,
            mime_type: "application/sql",
        });
    }
    Ok(entries)
}

/// The text of the resource at `uri`, or `None` when there is none.
///
/// # Errors
///
/// When a bundled query does not parse.
pub fn read(uri: &str) -> Result<Option<(&'static str, &'static str)>, analyze::AnalyzeError> {
    if uri == SCHEMA_URI {
        return Ok(Some((SCHEMA, "text/markdown")));
    }
    let Some(name) = uri.strip_prefix(QUERY_PREFIX) else {
        return Ok(None);
    };
    Ok(analyze::bundled()?
        .into_iter()
        .find(|b| b.name() == name)
        .map(|b| (b.text, "application/sql")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_resource_reads() {
        let entries = list().unwrap();
        assert!(entries.len() > 5);
        for entry in &entries {
            assert!(read(&entry.uri).unwrap().is_some(), "{}", entry.uri);
        }
        assert!(read("file:///etc/passwd").unwrap().is_none());
        assert!(
            read("kubetally://queries/../../etc/passwd")
                .unwrap()
                .is_none()
        );
    }
}
