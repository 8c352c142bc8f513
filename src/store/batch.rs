//! Rows → Arrow record batches in a table's exact schema.
//!
//! Columns are added by name in any order; [`Batch::finish`] assembles them
//! in the schema's order and fails on a missing or mistyped column, so a
//! table and its writer cannot drift apart silently.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, BooleanBuilder, DictionaryArray, Float64Array, Float64Builder,
    Int32Array, Int32Builder, Int64Array, Int64Builder, ListBuilder, RecordBatch, StringBuilder,
    StructBuilder, TimestampMillisecondArray,
};
use arrow::array::{ArrowPrimitiveType, BooleanBufferBuilder, PrimitiveArray};
use arrow::buffer::{NullBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, Fields, Float64Type, Int32Type, Int64Type};
use arrow::error::ArrowError;
use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;

use super::schema::{Kind, Table};
use crate::cluster::TemplateContainer;

/// A primitive column from runs of one value (or null): a fill per run,
/// not a push per row.
fn primitive_runs<T: ArrowPrimitiveType>(
    runs: impl Iterator<Item = (Option<T::Native>, usize)>,
) -> PrimitiveArray<T> {
    let mut values: Vec<T::Native> = Vec::with_capacity(runs.size_hint().0);
    let mut valid = BooleanBufferBuilder::new(runs.size_hint().0);
    let mut nulls = 0;
    for (value, count) in runs {
        values.extend(std::iter::repeat_n(value.unwrap_or_default(), count));
        valid.append_n(count, value.is_some());
        nulls += if value.is_some() { 0 } else { count };
    }
    let nulls = (nulls > 0).then(|| NullBuffer::new(valid.finish()));
    PrimitiveArray::new(ScalarBuffer::from(values), nulls)
}

/// Columns of one table under construction.
pub struct Batch {
    table: &'static Table,
    columns: HashMap<&'static str, ArrayRef>,
}

fn struct_fields(kind: Kind) -> Fields {
    match kind.data_type() {
        DataType::List(item) => match item.data_type() {
            DataType::Struct(fields) => fields.clone(),
            _ => Fields::empty(),
        },
        _ => Fields::empty(),
    }
}

fn item_field(kind: Kind) -> Arc<Field> {
    match kind.data_type() {
        DataType::List(item) => item,
        other => Arc::new(Field::new("item", other, false)),
    }
}

impl Batch {
    pub fn new(table: &'static Table) -> Batch {
        Batch {
            table,
            columns: HashMap::new(),
        }
    }

    fn put(&mut self, name: &'static str, array: ArrayRef) -> &mut Batch {
        self.columns.insert(name, array);
        self
    }

    /// A dictionary-encoded string column.
    ///
    /// Rows arrive sorted with their strings shared (`Arc<str>` from the
    /// interner), so a value at the same address as the row before's is the
    /// same value and reuses its key without hashing: on `samples`, hashing
    /// every row of eight string columns cost twice the Parquet encoding.
    pub fn symbol<'a>(
        &mut self,
        name: &'static str,
        values: impl Iterator<Item = &'a str>,
    ) -> &mut Batch {
        self.symbol_runs(name, values.map(|value| (value, 1)))
    }

    /// [`Batch::symbol`] of runs: each value repeated over its count of rows.
    pub fn symbol_runs<'a>(
        &mut self,
        name: &'static str,
        runs: impl Iterator<Item = (&'a str, usize)>,
    ) -> &mut Batch {
        let mut keys: Vec<i32> = Vec::with_capacity(runs.size_hint().0);
        let mut dictionary = StringBuilder::new();
        let mut index: FxHashMap<&'a str, i32> = FxHashMap::default();
        let mut previous: Option<(&'a str, i32)> = None;
        for (value, count) in runs {
            let key = match previous {
                Some((last, key)) if std::ptr::eq(last, value) => key,
                _ => {
                    let next = i32::try_from(index.len()).unwrap_or(i32::MAX);
                    *index.entry(value).or_insert_with(|| {
                        dictionary.append_value(value);
                        next
                    })
                }
            };
            previous = Some((value, key));
            keys.extend(std::iter::repeat_n(key, count));
        }
        // Every key indexes the dictionary by construction.
        let array = DictionaryArray::<Int32Type>::new(
            Int32Array::from(keys),
            Arc::new(dictionary.finish()),
        );
        self.put(name, Arc::new(array))
    }

    /// A nullable float column of runs: each value over its count of rows.
    pub fn opt_f64_runs(
        &mut self,
        name: &'static str,
        runs: impl Iterator<Item = (Option<f64>, usize)>,
    ) -> &mut Batch {
        self.put(name, Arc::new(primitive_runs::<Float64Type>(runs)))
    }

    /// A nullable integer column of runs: each value over its count of rows.
    pub fn opt_i64_runs(
        &mut self,
        name: &'static str,
        runs: impl Iterator<Item = (Option<i64>, usize)>,
    ) -> &mut Batch {
        self.put(name, Arc::new(primitive_runs::<Int64Type>(runs)))
    }

    pub fn f64(&mut self, name: &'static str, values: impl Iterator<Item = f64>) -> &mut Batch {
        self.put(name, Arc::new(values.collect::<Float64Array>()))
    }

    pub fn opt_f64(
        &mut self,
        name: &'static str,
        values: impl Iterator<Item = Option<f64>>,
    ) -> &mut Batch {
        self.put(name, Arc::new(values.collect::<Float64Array>()))
    }

    pub fn i64(&mut self, name: &'static str, values: impl Iterator<Item = i64>) -> &mut Batch {
        self.put(name, Arc::new(values.collect::<Int64Array>()))
    }

    pub fn opt_i64(
        &mut self,
        name: &'static str,
        values: impl Iterator<Item = Option<i64>>,
    ) -> &mut Batch {
        self.put(name, Arc::new(values.collect::<Int64Array>()))
    }

    pub fn i32(&mut self, name: &'static str, values: impl Iterator<Item = i32>) -> &mut Batch {
        self.put(name, Arc::new(values.collect::<Int32Array>()))
    }

    pub fn opt_i32(
        &mut self,
        name: &'static str,
        values: impl Iterator<Item = Option<i32>>,
    ) -> &mut Batch {
        self.put(name, Arc::new(values.collect::<Int32Array>()))
    }

    pub fn bool(&mut self, name: &'static str, values: impl Iterator<Item = bool>) -> &mut Batch {
        self.put(name, Arc::new(values.map(Some).collect::<BooleanArray>()))
    }

    pub fn timestamp(
        &mut self,
        name: &'static str,
        values: impl Iterator<Item = DateTime<Utc>>,
    ) -> &mut Batch {
        let array =
            TimestampMillisecondArray::from_iter_values(values.map(|t| t.timestamp_millis()))
                .with_timezone("UTC");
        self.put(name, Arc::new(array))
    }

    /// A `list<struct<key, value>>` column.
    pub fn key_values<'a, I>(&mut self, name: &'static str, rows: I) -> &mut Batch
    where
        I: Iterator<Item = &'a [(Arc<str>, Arc<str>)]>,
    {
        let fields = struct_fields(Kind::KeyValues);
        let entries = StructBuilder::from_fields(fields, 0);
        let mut builder = ListBuilder::new(entries).with_field(item_field(Kind::KeyValues));
        for row in rows {
            let entries = builder.values();
            for (key, value) in row {
                if let Some(b) = entries.field_builder::<StringBuilder>(0) {
                    b.append_value(key);
                }
                if let Some(b) = entries.field_builder::<StringBuilder>(1) {
                    b.append_value(value);
                }
                entries.append(true);
            }
            builder.append(true);
        }
        self.put(name, Arc::new(builder.finish()))
    }

    /// A `list<string>` column.
    pub fn strings<'a, I, R>(&mut self, name: &'static str, rows: I) -> &mut Batch
    where
        I: Iterator<Item = R>,
        R: IntoIterator<Item = &'a str>,
    {
        let mut builder =
            ListBuilder::new(StringBuilder::new()).with_field(item_field(Kind::Strings));
        for row in rows {
            for value in row {
                builder.values().append_value(value);
            }
            builder.append(true);
        }
        self.put(name, Arc::new(builder.finish()))
    }

    /// A sparse histogram or sketch column: `list<struct<bucket, weight>>`,
    /// one row's (bucket, weight) entries per item.
    pub fn histogram<E: IntoIterator<Item = (i32, f64)>>(
        &mut self,
        name: &'static str,
        rows: impl Iterator<Item = E>,
    ) -> &mut Batch {
        let fields = struct_fields(Kind::Histogram);
        let entries = StructBuilder::from_fields(fields, 0);
        let mut builder = ListBuilder::new(entries).with_field(item_field(Kind::Histogram));
        for histogram in rows {
            let entries = builder.values();
            for (bucket, weight) in histogram {
                if let Some(b) = entries.field_builder::<Int32Builder>(0) {
                    b.append_value(bucket);
                }
                if let Some(b) = entries.field_builder::<Float64Builder>(1) {
                    b.append_value(weight);
                }
                entries.append(true);
            }
            builder.append(true);
        }
        self.put(name, Arc::new(builder.finish()))
    }

    /// A workload's containers: `list<struct<name, requests, limits, probes, is_init>>`.
    pub fn containers<'a>(
        &mut self,
        name: &'static str,
        rows: impl Iterator<Item = &'a [TemplateContainer]>,
    ) -> &mut Batch {
        let fields = struct_fields(Kind::Containers);
        let entries = StructBuilder::from_fields(fields, 0);
        let mut builder = ListBuilder::new(entries).with_field(item_field(Kind::Containers));
        for containers in rows {
            let entries = builder.values();
            for c in containers {
                let r = &c.resources;
                if let Some(b) = entries.field_builder::<StringBuilder>(0) {
                    b.append_value(&c.name);
                }
                for (index, value) in [(1, r.cpu_request_cores), (2, r.cpu_limit_cores)] {
                    if let Some(b) = entries.field_builder::<Float64Builder>(index) {
                        b.append_option(value);
                    }
                }
                for (index, value) in [(3, r.memory_request_bytes), (4, r.memory_limit_bytes)] {
                    if let Some(b) = entries.field_builder::<Int64Builder>(index) {
                        b.append_option(value);
                    }
                }
                let flags = [
                    c.has_liveness_probe,
                    c.has_readiness_probe,
                    c.has_startup_probe,
                    c.is_init,
                ];
                for (index, value) in flags.into_iter().enumerate() {
                    if let Some(b) = entries.field_builder::<BooleanBuilder>(5 + index) {
                        b.append_value(value);
                    }
                }
                entries.append(true);
            }
            builder.append(true);
        }
        self.put(name, Arc::new(builder.finish()))
    }

    /// Adds an already built column (nested kinds built by the caller).
    pub fn array(&mut self, name: &'static str, array: ArrayRef) -> &mut Batch {
        self.put(name, array)
    }

    /// The record batch in the table's schema.
    ///
    /// # Errors
    ///
    /// An [`ArrowError`] naming the table and column that is missing or
    /// whose type or length does not match (a writer defect).
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let schema = self.table.schema();
        let mut arrays = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let array = self.columns.remove(field.name().as_str()).ok_or_else(|| {
                ArrowError::SchemaError(format!(
                    "table {}: column {} was not written",
                    self.table.name,
                    field.name()
                ))
            })?;
            arrays.push(array);
        }
        if let Some(extra) = self.columns.keys().next() {
            return Err(ArrowError::SchemaError(format!(
                "table {}: column {extra} is not in the schema",
                self.table.name
            )));
        }
        RecordBatch::try_new(schema, arrays)
            .map_err(|e| ArrowError::SchemaError(format!("table {}: {e}", self.table.name)))
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Int32Type;

    use super::*;
    use crate::store::schema::{SAMPLES, col};

    #[test]
    fn a_symbol_column_keeps_every_value_and_one_dictionary_entry_each() {
        let shared: Arc<str> = Arc::from("shop");
        // The same value at one address (a run), then at another address.
        let copy = String::from("shop");
        let values = [&*shared, &*shared, "web", &*copy, &*shared, "web"];
        let mut batch = Batch::new(&SAMPLES);
        batch.symbol(col::NAMESPACE, values.iter().copied());
        let array = batch
            .columns
            .remove(col::NAMESPACE)
            .unwrap_or_else(|| panic!("no column"));
        let dictionary = array.as_dictionary::<Int32Type>();
        assert_eq!(dictionary.values().len(), 2);
        let strings = dictionary.values().as_string::<i32>();
        let decoded: Vec<&str> = dictionary
            .keys()
            .iter()
            .map(|k| strings.value(k.unwrap_or_default() as usize))
            .collect();
        assert_eq!(decoded, values);
    }

    #[test]
    fn columns_made_a_run_at_a_time_are_the_columns_made_a_row_at_a_time() {
        let runs = [(Some(0.5), 3), (None, 2), (Some(2.0), 0), (Some(1.5), 1)];
        let rows: Vec<Option<f64>> = runs
            .iter()
            .flat_map(|&(v, n)| std::iter::repeat_n(v, n))
            .collect();
        let mut batch = Batch::new(&SAMPLES);
        batch.opt_f64_runs(col::CPU_REQUEST_CORES, runs.iter().copied());
        batch.opt_f64(col::CPU_LIMIT_CORES, rows.iter().copied());
        let integers = runs.map(|(v, n)| (v.map(|v| (v * 2.0) as i64), n));
        batch.opt_i64_runs(col::MEMORY_REQUEST_BYTES, integers.iter().copied());
        let expanded = integers
            .iter()
            .flat_map(|&(v, n)| std::iter::repeat_n(v, n));
        batch.opt_i64(col::MEMORY_LIMIT_BYTES, expanded);
        let texts = [("a", 2), ("b", 0), ("a", 1), ("c", 3)];
        batch.symbol_runs(col::POD, texts.iter().copied());
        batch.symbol(
            col::NODE,
            texts.iter().flat_map(|&(v, n)| std::iter::repeat_n(v, n)),
        );
        let column = |name| {
            batch
                .columns
                .get(name)
                .unwrap_or_else(|| panic!("no {name}"))
        };
        assert_eq!(column(col::CPU_REQUEST_CORES), column(col::CPU_LIMIT_CORES));
        assert_eq!(column(col::CPU_REQUEST_CORES).null_count(), 2);
        assert_eq!(
            column(col::MEMORY_REQUEST_BYTES),
            column(col::MEMORY_LIMIT_BYTES)
        );
        assert_eq!(column(col::POD), column(col::NODE));
        assert_eq!(column(col::POD).len(), 6);
    }
}
