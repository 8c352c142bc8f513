//! Strings read from the dataset as dense ids: a fold over millions of
//! rows (`recommend`'s history, the report's facts) groups by small
//! integers and hashes each distinct string once, not once per row.

use std::sync::Arc;

use rustc_hash::FxHashMap;

/// Distinct strings, numbered from 0 in order of first appearance.
#[derive(Debug, Default)]
pub struct StringIds {
    ids: FxHashMap<Arc<str>, usize>,
    names: Vec<Arc<str>>,
}

impl StringIds {
    /// The id of `text`, numbering it if it is new.
    pub fn id(&mut self, text: &str) -> usize {
        if let Some(id) = self.ids.get(text) {
            return *id;
        }
        let id = self.names.len();
        let text: Arc<str> = Arc::from(text);
        self.names.push(text.clone());
        self.ids.insert(text, id);
        id
    }

    /// The string numbered `id` (empty for an id it never gave).
    pub fn name(&self, id: usize) -> &str {
        self.names.get(id).map_or("", |name| name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_strings_in_order_of_first_appearance() {
        let mut ids = StringIds::default();
        assert_eq!((ids.id("b"), ids.id("a"), ids.id("b")), (0, 1, 0));
        assert_eq!((ids.name(1), ids.name(7)), ("a", ""));
    }
}
