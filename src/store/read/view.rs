//! Typed, borrowed views of a decoded batch's columns, so that readers
//! outside `store` fold rows from plain slices (`&[f64]`, `&[i64]`,
//! dictionary codes) without importing arrow, and without a copy: every
//! view points into the batch's own buffers.
//!
//! A view is asked for by column name (a [`crate::store::schema::col`]
//! constant) and type; a column the batch lacks or holds as another type
//! is a [`ReadError::Column`] naming the file and the column.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, BooleanArray, PrimitiveArray, StringArray,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::ArrowNativeType;
use arrow::datatypes::{
    DataType, Fields, Float64Type, Int32Type, Int64Type, TimeUnit, TimestampMillisecondType,
};

use super::ReadError;

/// The columns of a batch, or of the items of a list of structs.
#[derive(Clone, Copy)]
pub struct Columns<'a> {
    path: &'a str,
    fields: &'a Fields,
    arrays: &'a [ArrayRef],
    rows: usize,
}

impl<'a> Columns<'a> {
    pub(super) fn new(
        path: &'a str,
        fields: &'a Fields,
        arrays: &'a [ArrayRef],
        rows: usize,
    ) -> Columns<'a> {
        Columns {
            path,
            fields,
            arrays,
            rows,
        }
    }

    /// Rows (or list items) the columns hold.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Whether there is a column `name` (a file of an older writer lacks
    /// the columns added since).
    pub fn has(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    fn find(&self, name: &str) -> Option<&'a ArrayRef> {
        let at = self.fields.iter().position(|f| f.name() == name)?;
        self.arrays.get(at)
    }

    fn missing(&self, name: &str, expected: &'static str) -> ReadError {
        ReadError::Column {
            path: self.path.to_owned(),
            column: name.to_owned(),
            expected,
        }
    }

    fn primitive<T: ArrowPrimitiveType>(
        &self,
        name: &str,
        expected: &'static str,
        accept: impl Fn(&DataType) -> bool,
    ) -> Result<Values<'a, T::Native>, ReadError> {
        let array = self
            .find(name)
            .filter(|a| accept(a.data_type()))
            .and_then(|a| a.as_primitive_opt::<T>())
            .ok_or_else(|| self.missing(name, expected))?;
        Ok(Values::of(array))
    }

    /// A `float64` column.
    ///
    /// # Errors
    ///
    /// [`ReadError::Column`] when it is missing or of another type.
    pub fn floats(&self, name: &str) -> Result<Values<'a, f64>, ReadError> {
        self.primitive::<Float64Type>(name, "float64", |_| true)
    }

    /// An `int64` column.
    ///
    /// # Errors
    ///
    /// As [`Columns::floats`].
    pub fn int64s(&self, name: &str) -> Result<Values<'a, i64>, ReadError> {
        self.primitive::<Int64Type>(name, "int64", |_| true)
    }

    /// An `int32` column.
    ///
    /// # Errors
    ///
    /// As [`Columns::floats`].
    pub fn int32s(&self, name: &str) -> Result<Values<'a, i32>, ReadError> {
        self.primitive::<Int32Type>(name, "int32", |_| true)
    }

    /// A millisecond timestamp column, as milliseconds since the epoch.
    ///
    /// # Errors
    ///
    /// As [`Columns::floats`].
    pub fn millis(&self, name: &str) -> Result<Values<'a, i64>, ReadError> {
        self.primitive::<TimestampMillisecondType>(name, "a timestamp in milliseconds", |t| {
            matches!(t, DataType::Timestamp(TimeUnit::Millisecond, _))
        })
    }

    /// A `boolean` column.
    ///
    /// # Errors
    ///
    /// As [`Columns::floats`].
    pub fn bools(&self, name: &str) -> Result<Bools<'a>, ReadError> {
        self.find(name)
            .and_then(|a| a.as_boolean_opt())
            .map(|array| Bools { array })
            .ok_or_else(|| self.missing(name, "boolean"))
    }

    /// A string column, as strings or as dictionary codes, however the
    /// reader was asked to decode it ([`super::Select::coded`]).
    ///
    /// # Errors
    ///
    /// As [`Columns::floats`].
    pub fn text(&self, name: &str) -> Result<Text<'a>, ReadError> {
        let array = self
            .find(name)
            .ok_or_else(|| self.missing(name, "a string"))?;
        text(array).ok_or_else(|| self.missing(name, "a string"))
    }

    /// A list column: each row's range of items.
    ///
    /// # Errors
    ///
    /// As [`Columns::floats`].
    pub fn list(&self, name: &str) -> Result<List<'a>, ReadError> {
        let list = self
            .find(name)
            .and_then(|a| a.as_list_opt::<i32>())
            .ok_or_else(|| self.missing(name, "a list"))?;
        Ok(List {
            path: self.path,
            name: self
                .fields
                .iter()
                .find(|f| f.name() == name)
                .map_or("", |f| f.name()),
            offsets: list.value_offsets(),
            items: list.values(),
        })
    }
}

fn text(array: &ArrayRef) -> Option<Text<'_>> {
    if let Some(strings) = array.as_string_opt::<i32>() {
        return Some(Text::Plain(Strings(strings)));
    }
    let dictionary = array.as_dictionary_opt::<Int32Type>()?;
    let values = dictionary.values().as_string_opt::<i32>()?;
    Some(Text::Coded(Codes {
        codes: dictionary.keys().values(),
        nulls: dictionary.keys().nulls(),
        values: Strings(values),
        dictionary: dictionary.values(),
    }))
}

/// A column of numbers: its values as a slice, and which rows are null.
#[derive(Clone, Copy)]
pub struct Values<'a, T> {
    values: &'a [T],
    nulls: Option<&'a NullBuffer>,
}

impl<'a, T: ArrowNativeType> Values<'a, T> {
    fn of<P: ArrowPrimitiveType<Native = T>>(array: &'a PrimitiveArray<P>) -> Values<'a, T> {
        Values {
            values: &array.values()[..],
            nulls: array.nulls(),
        }
    }

    /// Every row's value; a null row's is arbitrary (see [`Values::get`]).
    pub fn values(&self) -> &'a [T] {
        self.values
    }

    /// Row `row`'s value, `None` when null or past the end.
    pub fn get(&self, row: usize) -> Option<T> {
        (!self.is_null(row)).then(|| self.values.get(row).copied())?
    }

    pub fn is_null(&self, row: usize) -> bool {
        self.nulls.is_some_and(|n| row < n.len() && n.is_null(row))
    }

    pub fn null_count(&self) -> usize {
        self.nulls.map_or(0, NullBuffer::null_count)
    }
}

/// A boolean column.
#[derive(Clone, Copy)]
pub struct Bools<'a> {
    array: &'a BooleanArray,
}

impl Bools<'_> {
    /// Row `row`'s value; false when null or past the end.
    pub fn value(&self, row: usize) -> bool {
        row < self.array.len() && self.array.is_valid(row) && self.array.value(row)
    }
}

/// A string column as the reader decoded it.
#[derive(Clone, Copy)]
pub enum Text<'a> {
    Plain(Strings<'a>),
    Coded(Codes<'a>),
}

impl<'a> Text<'a> {
    /// Row `row`'s string; empty when null or past the end.
    pub fn get(&self, row: usize) -> &'a str {
        match self {
            Text::Plain(strings) => strings.get(row),
            Text::Coded(codes) => codes.code(row).map_or("", |code| codes.values.get(code)),
        }
    }
}

/// Plain strings, one per row.
#[derive(Clone, Copy)]
pub struct Strings<'a>(&'a StringArray);

impl<'a> Strings<'a> {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn null_count(&self) -> usize {
        self.0.null_count()
    }

    /// String `i`; empty when null or past the end.
    pub fn get(&self, i: usize) -> &'a str {
        if i < self.0.len() && self.0.is_valid(i) {
            self.0.value(i)
        } else {
            ""
        }
    }
}

/// A dictionary-encoded string column: a code per row into its values.
/// Comparing codes compares strings within one [`Dictionary`].
#[derive(Clone, Copy)]
pub struct Codes<'a> {
    codes: &'a [i32],
    nulls: Option<&'a NullBuffer>,
    values: Strings<'a>,
    dictionary: &'a ArrayRef,
}

impl<'a> Codes<'a> {
    /// Every row's code; a null row's is arbitrary (see [`Codes::code`]).
    pub fn codes(&self) -> &'a [i32] {
        self.codes
    }

    /// Row `row`'s index into [`Codes::values`]; `None` when null.
    pub fn code(&self, row: usize) -> Option<usize> {
        if self.nulls.is_some_and(|n| row < n.len() && n.is_null(row)) {
            return None;
        }
        usize::try_from(*self.codes.get(row)?).ok()
    }

    pub fn null_count(&self) -> usize {
        self.nulls.map_or(0, NullBuffer::null_count)
    }

    /// The strings the codes index.
    pub fn values(&self) -> Strings<'a> {
        self.values
    }

    /// The dictionary, to tell whether a later batch shares it: the
    /// batches of one column chunk do, so its strings need resolving once.
    pub fn dictionary(&self) -> Dictionary {
        Dictionary(Arc::clone(self.dictionary))
    }
}

/// A batch's dictionary, kept to compare with a later batch's; equal only
/// to the very same dictionary.
#[derive(Clone)]
pub struct Dictionary(ArrayRef);

impl PartialEq for Dictionary {
    fn eq(&self, other: &Dictionary) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for Dictionary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dictionary({} values)", self.0.len())
    }
}

/// A list column: row `r`'s items are the items at [`List::range`]`(r)`.
#[derive(Clone, Copy)]
pub struct List<'a> {
    path: &'a str,
    name: &'a str,
    offsets: &'a [i32],
    items: &'a ArrayRef,
}

impl<'a> List<'a> {
    /// The items of row `row`; empty when null or past the end.
    pub fn range(&self, row: usize) -> std::ops::Range<usize> {
        let at = |i: usize| self.offsets.get(i).and_then(|o| usize::try_from(*o).ok());
        match (at(row), at(row + 1)) {
            (Some(from), Some(to)) if from <= to => from..to,
            _ => 0..0,
        }
    }

    fn not(&self, expected: &'static str) -> ReadError {
        ReadError::Column {
            path: self.path.to_owned(),
            column: self.name.to_owned(),
            expected,
        }
    }

    /// The items of a list of strings.
    ///
    /// # Errors
    ///
    /// [`ReadError::Column`] when the items are not strings.
    pub fn strings(&self) -> Result<Strings<'a>, ReadError> {
        self.items
            .as_string_opt::<i32>()
            .map(Strings)
            .ok_or_else(|| self.not("a list of strings"))
    }

    /// The items of a list of structs, as columns (one item a row).
    ///
    /// # Errors
    ///
    /// [`ReadError::Column`] when the items are not structs.
    pub fn fields(&self) -> Result<Columns<'a>, ReadError> {
        let items = self
            .items
            .as_struct_opt()
            .ok_or_else(|| self.not("a list of structs"))?;
        Ok(Columns::new(
            self.path,
            items.fields(),
            items.columns(),
            items.len(),
        ))
    }
}
