//! Who a pod's cost belongs to.
//!
//! Order: a shared namespace → `__shared__`; else the tenant map (first
//! matching namespace pattern); else `--tenant-label` on the pod, then on its
//! namespace; else the namespace name.

/// The tenant of shared namespaces.
pub const SHARED: &str = "__shared__";

/// A namespace glob: `*` matches any run of characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(String);

impl Pattern {
    pub fn new(text: &str) -> Pattern {
        Pattern(text.to_owned())
    }

    pub fn matches(&self, name: &str) -> bool {
        glob(self.0.as_bytes(), name.as_bytes())
    }
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| glob(rest, &text[skip..])),
        Some((c, rest)) => text
            .split_first()
            .is_some_and(|(t, text)| t == c && glob(rest, text)),
    }
}

/// How tenants are found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TenantRules {
    pub label: Option<String>,
    pub map: Vec<(Pattern, String)>,
    pub shared: Vec<Pattern>,
}

/// A tenant map file that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("tenant map {origin} line {line}: {message}")]
pub struct TenantMapError {
    pub origin: String,
    pub line: usize,
    pub message: String,
}

impl TenantRules {
    /// Rules with the default shared namespace, kube-system.
    pub fn new(label: Option<String>) -> TenantRules {
        TenantRules {
            label,
            map: Vec::new(),
            shared: vec![Pattern::new("kube-system")],
        }
    }

    /// The tenant of a pod with `pod_labels` in `namespace` labelled `namespace_labels`.
    pub fn tenant<'a>(
        &'a self,
        namespace: &'a str,
        pod_label: impl FnOnce(&str) -> Option<&'a str>,
        namespace_label: impl FnOnce(&str) -> Option<&'a str>,
    ) -> &'a str {
        if self.shared.iter().any(|p| p.matches(namespace)) {
            return SHARED;
        }
        if let Some((_, tenant)) = self.map.iter().find(|(p, _)| p.matches(namespace)) {
            return tenant;
        }
        if let Some(key) = &self.label
            && let Some(tenant) = pod_label(key).or_else(|| namespace_label(key))
            && !tenant.is_empty()
        {
            return tenant;
        }
        namespace
    }
}

/// Parses a tenant map: one `NAMESPACE_PATTERN = TENANT` per line, `#`
/// comments and blank lines ignored, first match wins.
///
/// # Errors
///
/// [`TenantMapError`] naming the file and line.
pub fn parse_tenant_map(
    text: &str,
    origin: &str,
) -> Result<Vec<(Pattern, String)>, TenantMapError> {
    let mut map = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let error = |message: &str| TenantMapError {
            origin: origin.to_owned(),
            line: index + 1,
            message: message.to_owned(),
        };
        let Some((pattern, tenant)) = line.split_once('=') else {
            return Err(error(&format!(
                "expected `NAMESPACE_PATTERN = TENANT`, found {line:?}"
            )));
        };
        let (pattern, tenant) = (pattern.trim(), tenant.trim());
        if pattern.is_empty() || tenant.is_empty() {
            return Err(error("the pattern and the tenant must not be empty"));
        }
        if tenant.contains(char::is_whitespace) || pattern.contains(char::is_whitespace) {
            return Err(error("patterns and tenants are single words"));
        }
        map.push((Pattern::new(pattern), tenant.to_owned()));
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_shared_then_map_then_labels_then_namespace() {
        let mut rules = TenantRules::new(Some("tenant".into()));
        rules.shared.push(Pattern::new("monitoring"));
        rules.map = parse_tenant_map("# teams\nteam-a-* = alpha\n", "map").unwrap_or_default();
        let none = |_: &str| None;
        assert_eq!(rules.tenant("kube-system", |_| Some("x"), none), SHARED);
        assert_eq!(rules.tenant("team-a-web", |_| Some("x"), none), "alpha");
        assert_eq!(
            rules.tenant("shop", |_| Some("acme"), |_| Some("b")),
            "acme"
        );
        assert_eq!(rules.tenant("shop", none, |_| Some("globex")), "globex");
        assert_eq!(rules.tenant("shop", none, none), "shop");
    }

    #[test]
    fn globs_match_whole_names() {
        assert!(Pattern::new("a*").matches("abc"));
        assert!(Pattern::new("*-prod").matches("shop-prod"));
        assert!(!Pattern::new("*-prod").matches("shop-prod2"));
        assert!(Pattern::new("x").matches("x") && !Pattern::new("x").matches("xy"));
    }

    #[test]
    fn bad_map_lines_are_named() {
        for (text, expected) in [
            (
                "a = b\nnonsense\n",
                "tenant map m line 2: expected `NAMESPACE_PATTERN = TENANT`",
            ),
            (
                "= b",
                "line 1: the pattern and the tenant must not be empty",
            ),
            ("a = b c", "line 1: patterns and tenants are single words"),
        ] {
            let Err(error) = parse_tenant_map(text, "m") else {
                panic!("accepted {text:?}");
            };
            assert!(error.to_string().contains(expected), "{error}");
        }
    }
}
