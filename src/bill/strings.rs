//! The bill's string table: every distinct text once, lines hold 4-byte ids.
//!
//! A month of an hourly bill repeats the same few thousand service names,
//! SKUs, regions and resource ids millions of times. A `u32` id per field
//! (instead of an `Arc<str>`, 16 bytes, or a `String`, 24 bytes and an
//! allocation) keeps a line's descriptors small enough to be interned again
//! as a whole ([`super::Meter`], [`super::Resource`]).

use std::sync::Arc;

use rustc_hash::FxHashMap;

/// An interned string of one [`super::Bill`]; `Sym::EMPTY` is the empty
/// string, which also stands for "the bill has no value here".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Sym(u32);

impl Sym {
    /// The empty string (absent or null in the bill).
    pub const EMPTY: Sym = Sym(0);

    /// Whether the bill had no value here.
    pub fn is_empty(self) -> bool {
        self == Sym::EMPTY
    }
}

/// A set of shared strings addressed by [`Sym`].
#[derive(Debug)]
pub(crate) struct Strings {
    texts: Vec<Arc<str>>,
    ids: FxHashMap<Arc<str>, Sym>,
}

impl Default for Strings {
    fn default() -> Self {
        let empty: Arc<str> = Arc::from("");
        let mut ids = FxHashMap::default();
        ids.insert(empty.clone(), Sym::EMPTY);
        Strings {
            texts: vec![empty],
            ids,
        }
    }
}

impl Strings {
    /// The id of `text`, adding it on first sight.
    pub(crate) fn intern(&mut self, text: &str) -> Sym {
        if let Some(&sym) = self.ids.get(text) {
            return sym;
        }
        // More than 4 billion distinct strings cannot come from one bill
        // that fits in memory; saturating keeps this total anyway.
        let sym = Sym(u32::try_from(self.texts.len()).unwrap_or(u32::MAX));
        let shared: Arc<str> = Arc::from(text);
        self.texts.push(shared.clone());
        self.ids.insert(shared, sym);
        sym
    }

    /// The id of `text` if it was ever interned.
    pub(crate) fn find(&self, text: &str) -> Option<Sym> {
        self.ids.get(text).copied()
    }

    /// The text of `sym` (empty for an id of another table).
    pub(crate) fn get(&self, sym: Sym) -> &str {
        self.texts.get(sym.0 as usize).map_or("", |s| s)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.texts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_share_one_id_and_empty_is_id_zero() {
        let mut strings = Strings::default();
        let a = strings.intern("Compute Engine");
        assert_eq!(strings.intern("Compute Engine"), a);
        assert_eq!(strings.intern(""), Sym::EMPTY);
        assert_eq!(strings.get(a), "Compute Engine");
        assert_eq!(strings.find("absent"), None);
        assert_eq!(strings.len(), 2);
    }
}
