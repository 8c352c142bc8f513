//! Reading numbers and objects that a client sent as text.
//!
//! The schemas say `integer` and `object`, and most clients send those; but
//! some send every argument as a string (the MCP Inspector's CLI turns
//! `--tool-arg top=5` into `"5"` when the schema's type is nullable), and
//! language models now and then quote a number. Refusing `"5"` for 5 helps
//! no one, so these accept the value or its text, and still refuse text
//! that is not one.

use std::fmt::Display;
use std::str::FromStr;

use serde::de::{DeserializeOwned, Error};
use serde::{Deserialize, Deserializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum ValueOrText<T> {
    Value(T),
    Text(String),
}

/// An optional number, or its text.
pub fn number<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + FromStr,
    T::Err: Display,
{
    match Option::<ValueOrText<T>>::deserialize(deserializer)? {
        None => Ok(None),
        Some(ValueOrText::Value(value)) => Ok(Some(value)),
        Some(ValueOrText::Text(text)) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|e| D::Error::custom(format!("{text:?}: {e}"))),
    }
}

/// An object, or its JSON text; absent or null is its default.
pub fn object<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    optional_object(deserializer).map(Option::unwrap_or_default)
}

/// An optional object, or its JSON text.
pub fn optional_object<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    match Option::<ValueOrText<T>>::deserialize(deserializer)? {
        None => Ok(None),
        Some(ValueOrText::Value(value)) => Ok(Some(value)),
        Some(ValueOrText::Text(text)) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| D::Error::custom(format!("{text:?}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    struct Inner {
        n: Option<u32>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Input {
        #[serde(default, deserialize_with = "number")]
        top: Option<usize>,
        #[serde(default, deserialize_with = "object")]
        inner: Inner,
    }

    #[test]
    fn numbers_and_objects_may_come_as_text_but_must_parse() {
        let read = |json: &str| serde_json::from_str::<Input>(json).map_err(|e| e.to_string());
        let five = Input {
            top: Some(5),
            inner: Inner { n: Some(2) },
        };
        assert_eq!(read(r#"{"top": 5, "inner": {"n": 2}}"#), Ok(five));
        let text = read(r#"{"top": "5", "inner": "{\"n\": 2}"}"#).unwrap();
        assert_eq!((text.top, text.inner.n), (Some(5), Some(2)));
        assert_eq!(read("{}").unwrap().top, None);
        assert!(read(r#"{"top": "five"}"#).is_err());
        assert!(read(r#"{"top": -1}"#).is_err());
        assert!(read(r#"{"inner": "not json"}"#).is_err());
    }
}
