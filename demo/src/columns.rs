//! Building record batches column by column, with the catalogue metadata (description, unit,
//! UCD, principal, indexed) attached to every Arrow field. The same code path builds the
//! schema of an empty table, so schema and data cannot drift apart.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, FixedSizeListArray, Float32Array, Float64Array, Int16Array, Int32Array,
    Int64Array, ListBuilder, StringArray,
};
use datafusion::arrow::array::{BooleanBuilder, PrimitiveBuilder};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{ArrowPrimitiveType, DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;

use crate::DemoError;

/// Metadata keys read by the catalogue.
pub(crate) const KEY_DESCRIPTION: &str = "description";
pub(crate) const KEY_UNIT: &str = "unit";
pub(crate) const KEY_UCD: &str = "ucd";
pub(crate) const KEY_PRINCIPAL: &str = "principal";
pub(crate) const KEY_INDEXED: &str = "indexed";
/// HEALPix-bearing key scheme (read by Parallax's cone-search pruning).
pub(crate) const KEY_HEALPIX: &str = "healpix";

/// Catalogue metadata of one column.
#[derive(Clone, Copy)]
pub(crate) struct Meta {
    name: &'static str,
    unit: &'static str,
    ucd: &'static str,
    description: &'static str,
    principal: bool,
    indexed: bool,
    healpix: Option<&'static str>,
}

/// Column metadata: name, VOUnit ("" when dimensionless), UCD, one-sentence description.
pub(crate) const fn m(
    name: &'static str,
    unit: &'static str,
    ucd: &'static str,
    description: &'static str,
) -> Meta {
    Meta {
        name,
        unit,
        ucd,
        description,
        principal: false,
        indexed: false,
        healpix: None,
    }
}

impl Meta {
    /// Marks the column as one of the table's principal columns.
    pub(crate) const fn principal(mut self) -> Self {
        self.principal = true;
        self
    }

    /// Marks the column as indexed (sorted; files are pruned on it).
    pub(crate) const fn indexed(mut self) -> Self {
        self.indexed = true;
        self
    }

    /// Marks the column as a HEALPix-bearing key (`healpix` field metadata, e.g. `gaia`), so
    /// that cone searches on the table are pruned by key ranges.
    pub(crate) const fn healpix(mut self, scheme: &'static str) -> Self {
        self.healpix = Some(scheme);
        self
    }

    fn field(&self, data_type: DataType, nullable: bool) -> Field {
        let flag = |b: bool| if b { "1" } else { "0" }.to_string();
        let mut md = HashMap::from([
            (KEY_DESCRIPTION.to_string(), self.description.to_string()),
            (KEY_UNIT.to_string(), self.unit.to_string()),
            (KEY_UCD.to_string(), self.ucd.to_string()),
            (KEY_PRINCIPAL.to_string(), flag(self.principal)),
            (KEY_INDEXED.to_string(), flag(self.indexed)),
        ]);
        if let Some(scheme) = self.healpix {
            md.insert(KEY_HEALPIX.to_string(), scheme.to_string());
        }
        Field::new(self.name, data_type, nullable).with_metadata(md)
    }
}

/// Accumulates (field, array) pairs in schema order.
pub(crate) struct Columns {
    table: &'static str,
    description: &'static str,
    fields: Vec<Field>,
    arrays: Vec<ArrayRef>,
}

impl Columns {
    pub(crate) fn new(table: &'static str, description: &'static str) -> Self {
        Self {
            table,
            description,
            fields: Vec::new(),
            arrays: Vec::new(),
        }
    }

    fn push(&mut self, meta: Meta, nullable: bool, array: ArrayRef) {
        self.fields
            .push(meta.field(array.data_type().clone(), nullable));
        self.arrays.push(array);
    }

    pub(crate) fn f64(&mut self, meta: Meta, v: impl IntoIterator<Item = f64>) {
        self.push(
            meta,
            false,
            Arc::new(v.into_iter().collect::<Float64Array>()),
        );
    }
    pub(crate) fn f64o(&mut self, meta: Meta, v: impl IntoIterator<Item = Option<f64>>) {
        self.push(
            meta,
            true,
            Arc::new(v.into_iter().collect::<Float64Array>()),
        );
    }
    pub(crate) fn f32(&mut self, meta: Meta, v: impl IntoIterator<Item = f32>) {
        self.push(
            meta,
            false,
            Arc::new(v.into_iter().collect::<Float32Array>()),
        );
    }
    pub(crate) fn f32o(&mut self, meta: Meta, v: impl IntoIterator<Item = Option<f32>>) {
        self.push(
            meta,
            true,
            Arc::new(v.into_iter().collect::<Float32Array>()),
        );
    }
    pub(crate) fn i16(&mut self, meta: Meta, v: impl IntoIterator<Item = i16>) {
        self.push(meta, false, Arc::new(v.into_iter().collect::<Int16Array>()));
    }
    pub(crate) fn i16o(&mut self, meta: Meta, v: impl IntoIterator<Item = Option<i16>>) {
        self.push(meta, true, Arc::new(v.into_iter().collect::<Int16Array>()));
    }
    pub(crate) fn i32(&mut self, meta: Meta, v: impl IntoIterator<Item = i32>) {
        self.push(meta, false, Arc::new(v.into_iter().collect::<Int32Array>()));
    }
    pub(crate) fn i64(&mut self, meta: Meta, v: impl IntoIterator<Item = i64>) {
        self.push(meta, false, Arc::new(v.into_iter().collect::<Int64Array>()));
    }
    pub(crate) fn boolean(&mut self, meta: Meta, v: impl IntoIterator<Item = bool>) {
        let a: BooleanArray = v.into_iter().map(Some).collect();
        self.push(meta, false, Arc::new(a));
    }
    pub(crate) fn string(&mut self, meta: Meta, v: impl IntoIterator<Item = String>) {
        self.push(
            meta,
            false,
            Arc::new(v.into_iter().map(Some).collect::<StringArray>()),
        );
    }

    /// A nullable fixed-size list column of `size` non-null values per row; `rows` yields
    /// `None` for a null row (e.g. a missing BP spectrum).
    pub(crate) fn fixed_f64<'a>(
        &mut self,
        meta: Meta,
        size: usize,
        rows: impl IntoIterator<Item = Option<&'a [f64]>>,
    ) -> Result<(), DemoError> {
        let (values, valid) = flatten(size, rows, 0.0);
        let item = Arc::new(Field::new("item", DataType::Float64, false));
        let array = FixedSizeListArray::try_new(
            item,
            fixed_len(size, self.table)?,
            Arc::new(Float64Array::from(values)),
            Some(NullBuffer::from(valid)),
        )
        .map_err(|source| self.arrow_err(source))?;
        self.push(meta, true, Arc::new(array));
        Ok(())
    }

    /// As [`Columns::fixed_f64`] for single-precision values.
    pub(crate) fn fixed_f32<'a>(
        &mut self,
        meta: Meta,
        size: usize,
        rows: impl IntoIterator<Item = Option<&'a [f32]>>,
    ) -> Result<(), DemoError> {
        let (values, valid) = flatten(size, rows, 0.0);
        let item = Arc::new(Field::new("item", DataType::Float32, false));
        let array = FixedSizeListArray::try_new(
            item,
            fixed_len(size, self.table)?,
            Arc::new(Float32Array::from(values)),
            Some(NullBuffer::from(valid)),
        )
        .map_err(|source| self.arrow_err(source))?;
        self.push(meta, true, Arc::new(array));
        Ok(())
    }

    /// A non-null variable-length list column with nullable primitive elements.
    pub(crate) fn list<T: ArrowPrimitiveType>(
        &mut self,
        meta: Meta,
        rows: impl IntoIterator<Item = Vec<Option<T::Native>>>,
    ) {
        let mut b = ListBuilder::new(PrimitiveBuilder::<T>::new());
        for row in rows {
            for v in row {
                b.values().append_option(v);
            }
            b.append(true);
        }
        self.push(meta, false, Arc::new(b.finish()));
    }

    /// A non-null list-of-booleans column.
    pub(crate) fn list_bool(&mut self, meta: Meta, rows: impl IntoIterator<Item = Vec<bool>>) {
        let mut b = ListBuilder::new(BooleanBuilder::new());
        for row in rows {
            for v in row {
                b.values().append_value(v);
            }
            b.append(true);
        }
        self.push(meta, false, Arc::new(b.finish()));
    }

    fn arrow_err(&self, source: datafusion::arrow::error::ArrowError) -> DemoError {
        DemoError::Arrow {
            table: self.table,
            source,
        }
    }

    /// The finished batch; its schema carries the table description.
    pub(crate) fn finish(self) -> Result<RecordBatch, DemoError> {
        let md = HashMap::from([(KEY_DESCRIPTION.to_string(), self.description.to_string())]);
        let schema: SchemaRef = Arc::new(Schema::new_with_metadata(self.fields, md));
        RecordBatch::try_new(schema, self.arrays).map_err(|source| DemoError::Arrow {
            table: self.table,
            source,
        })
    }
}

fn fixed_len(size: usize, table: &'static str) -> Result<i32, DemoError> {
    i32::try_from(size).map_err(|_| DemoError::Internal {
        reason: format!("fixed list size {size} too large in {table}"),
    })
}

fn flatten<'a, T: Copy + 'a>(
    size: usize,
    rows: impl IntoIterator<Item = Option<&'a [T]>>,
    fill: T,
) -> (Vec<T>, Vec<bool>) {
    let mut values = Vec::new();
    let mut valid = Vec::new();
    for row in rows {
        match row {
            Some(r) => {
                // Pad or truncate defensively; callers always pass exactly `size` values.
                values.extend(r.iter().copied().take(size));
                values.extend(std::iter::repeat_n(fill, size.saturating_sub(r.len())));
                valid.push(true);
            }
            None => {
                values.extend(std::iter::repeat_n(fill, size));
                valid.push(false);
            }
        }
    }
    (values, valid)
}
