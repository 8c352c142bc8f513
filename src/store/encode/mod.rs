//! Record batches encoded as Parquet row groups, a column chunk at a time,
//! for every Parquet file kubetally writes (the dataset's tables and the
//! FOCUS export).
//!
//! A string column held as an Arrow dictionary is written from its keys
//! ([`dictionary`]), a decimal column without statistics from its `i128`s
//! ([`decimal`]); every other column, and any case those modules leave
//! out, by arrow-rs's `ArrowColumnWriter`, the encoder `ArrowWriter` uses.
//! Encoding is separate from writing the file so that a thread can encode
//! a row group while another appends the previous one.

mod decimal;
mod dictionary;
mod pages;

use std::io::Write;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowSchemaConverter;
use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowRowGroupWriterFactory, compute_leaves};
use parquet::errors::{ParquetError, Result};
use parquet::file::properties::{WriterProperties, WriterPropertiesPtr};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::SchemaDescriptor;

/// Encodes batches of one Arrow schema with one set of Parquet settings.
#[derive(Clone)]
pub(crate) struct RowGroupEncoder {
    properties: WriterPropertiesPtr,
    schema: Arc<SchemaDescriptor>,
    arrow: SchemaRef,
    columns: Arc<ArrowRowGroupWriterFactory>,
}

impl RowGroupEncoder {
    /// An encoder of batches of `arrow`; files get its Parquet schema
    /// (an Arrow dictionary is stored as its value type).
    ///
    /// # Errors
    ///
    /// The schema has a type Parquet cannot store.
    pub fn new(arrow: SchemaRef, properties: WriterProperties) -> Result<RowGroupEncoder> {
        let properties = Arc::new(properties);
        let schema = ArrowSchemaConverter::new()
            .with_coerce_types(properties.coerce_types())
            .convert(&arrow)?;
        let schema = Arc::new(schema);
        // The factory takes the file's schema and settings from a file
        // writer; one that writes nowhere lends them.
        let template = SerializedFileWriter::new(
            std::io::sink(),
            schema.root_schema_ptr(),
            Arc::clone(&properties),
        )?;
        let columns = ArrowRowGroupWriterFactory::new(&template, Arc::clone(&arrow));
        Ok(RowGroupEncoder {
            properties,
            schema,
            arrow,
            columns: Arc::new(columns),
        })
    }

    /// A file to append this encoder's row groups to, with its settings
    /// (and their key-value metadata) and schema.
    ///
    /// # Errors
    ///
    /// The writer cannot start the file on `out`.
    pub fn file<W: Write + Send>(&self, out: W) -> Result<SerializedFileWriter<W>> {
        SerializedFileWriter::new(
            out,
            self.schema.root_schema_ptr(),
            Arc::clone(&self.properties),
        )
    }

    /// `batch` as one row group's column chunks.
    ///
    /// # Errors
    ///
    /// The batch's schema is not the encoder's, or a column cannot be
    /// encoded (a defect).
    pub fn encode(&self, batch: &RecordBatch) -> Result<EncodedRowGroup> {
        if batch.schema().fields() != self.arrow.fields() {
            return Err(ParquetError::General(
                "a batch of another schema than the file's".into(),
            ));
        }
        let writers = self.columns.create_column_writers(0)?;
        let mut writers = writers.into_iter();
        let mut leaf = 0;
        let mut chunks = Vec::with_capacity(self.schema.num_columns());
        for (field, array) in self.arrow.fields().iter().zip(batch.columns()) {
            let descr = self.schema.column(leaf);
            let own = if let Some(keys) =
                dictionary::writable(array.as_ref(), &descr, &self.properties)
            {
                dictionary::encode(keys, &descr, &self.properties)?
            } else if let Some(decimals) =
                decimal::writable(array.as_ref(), &descr, &self.properties)
            {
                decimal::encode(decimals, &descr, &self.properties)?
            } else {
                None
            };
            if let Some(chunk) = own {
                writers.next();
                leaf += 1;
                chunks.push(Chunk::Own(chunk));
                continue;
            }
            for column in compute_leaves(field, array)? {
                let mut writer = writers
                    .next()
                    .ok_or_else(|| ParquetError::General("more leaves than columns".into()))?;
                writer.write(&column)?;
                leaf += 1;
                chunks.push(Chunk::Arrow(writer.close()?));
            }
        }
        Ok(EncodedRowGroup { chunks })
    }
}

/// A row group's column chunks, in the schema's order.
pub(crate) struct EncodedRowGroup {
    chunks: Vec<Chunk>,
}

enum Chunk {
    Arrow(ArrowColumnChunk),
    Own(pages::ColumnChunk),
}

impl EncodedRowGroup {
    /// Appends the row group to `file`.
    ///
    /// # Errors
    ///
    /// The file's writer fails (its sink, or chunks of another schema).
    pub fn append_to<W: Write + Send>(self, file: &mut SerializedFileWriter<W>) -> Result<()> {
        let mut row_group = file.next_row_group()?;
        for chunk in self.chunks {
            match chunk {
                Chunk::Arrow(chunk) => chunk.append_to_row_group(&mut row_group)?,
                Chunk::Own(chunk) => row_group.append_column(&chunk.bytes, chunk.close)?,
            }
        }
        row_group.close()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
