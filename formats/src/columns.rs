//! Typed, downcast-once views of a batch's columns for the row-oriented encoders.
//!
//! Each batch is first cast to the small set of physical types in [`Kind`] (a no-op for the
//! common types), then every column is downcast once into a [`Column`]; the encoders then
//! run one tight loop per column type.

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BinaryViewArray, BooleanArray, FixedSizeBinaryArray,
    LargeBinaryArray, LargeStringArray, StringArray, StringViewArray,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Schema,
    TimeUnit, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::{FormatError, Result};
use crate::meta::{Kind, Scalar};

/// Resolve the [`Kind`] of every field, or fail with the first unwritable column.
pub(crate) fn kinds_of(schema: &Schema, format: &'static str) -> Result<Vec<Kind>> {
    schema
        .fields()
        .iter()
        .map(|f| {
            Kind::of(f.data_type()).ok_or_else(|| FormatError::UnsupportedType {
                column: f.name().clone(),
                data_type: f.data_type().to_string(),
                format,
            })
        })
        .collect()
}

/// Cast the batch's columns to their encodable types (zero-copy when already right).
pub(crate) fn canonical_arrays(batch: &RecordBatch, kinds: &[Kind]) -> Result<Vec<ArrayRef>> {
    if batch.num_columns() != kinds.len() {
        return Err(FormatError::Internal(format!(
            "batch has {} columns, the schema {}",
            batch.num_columns(),
            kinds.len()
        )));
    }
    batch
        .columns()
        .iter()
        .zip(kinds)
        .map(|(a, k)| match k.cast_target(a.data_type()) {
            None => Ok(a.clone()),
            Some(t) => Ok(cast(a, &t)?),
        })
        .collect()
}

/// Element values of a scalar column or of a list's child array.
#[derive(Clone, Copy)]
pub(crate) enum Leaf<'a> {
    Bool(&'a BooleanArray),
    I16(&'a [i16]),
    I32(&'a [i32]),
    I64(&'a [i64]),
    F32(&'a [f32]),
    F64(&'a [f64]),
}

impl<'a> Leaf<'a> {
    fn of(a: &'a dyn Array, s: Scalar) -> Result<Self> {
        let wrong =
            || FormatError::Internal(format!("expected {:?} values, got {}", s, a.data_type()));
        Ok(match s {
            Scalar::Bool => Leaf::Bool(a.as_boolean_opt().ok_or_else(wrong)?),
            Scalar::I16 => Leaf::I16(
                a.as_primitive_opt::<Int16Type>()
                    .ok_or_else(wrong)?
                    .values(),
            ),
            Scalar::I32 => Leaf::I32(
                a.as_primitive_opt::<Int32Type>()
                    .ok_or_else(wrong)?
                    .values(),
            ),
            Scalar::I64 => Leaf::I64(
                a.as_primitive_opt::<Int64Type>()
                    .ok_or_else(wrong)?
                    .values(),
            ),
            Scalar::F32 => Leaf::F32(
                a.as_primitive_opt::<Float32Type>()
                    .ok_or_else(wrong)?
                    .values(),
            ),
            Scalar::F64 => Leaf::F64(
                a.as_primitive_opt::<Float64Type>()
                    .ok_or_else(wrong)?
                    .values(),
            ),
        })
    }

    pub(crate) fn scalar(&self) -> Scalar {
        match self {
            Leaf::Bool(_) => Scalar::Bool,
            Leaf::I16(_) => Scalar::I16,
            Leaf::I32(_) => Scalar::I32,
            Leaf::I64(_) => Scalar::I64,
            Leaf::F32(_) => Scalar::F32,
            Leaf::F64(_) => Scalar::F64,
        }
    }
}

/// Offsets of a variable-length list column.
#[derive(Clone, Copy)]
pub(crate) enum Offsets<'a> {
    Small(&'a [i32]),
    Large(&'a [i64]),
}

impl Offsets<'_> {
    /// Child index range of row `r`. Offsets are validated by arrow, hence non-negative.
    #[inline]
    pub(crate) fn range(&self, r: usize) -> (usize, usize) {
        match self {
            Offsets::Small(o) => (o[r] as usize, o[r + 1] as usize),
            Offsets::Large(o) => (o[r] as usize, o[r + 1] as usize),
        }
    }
}

/// A string column of any of Arrow's three layouts.
#[derive(Clone, Copy)]
pub(crate) enum Strs<'a> {
    Utf8(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
}

/// A binary column of any of Arrow's layouts.
#[derive(Clone, Copy)]
pub(crate) enum Bins<'a> {
    Binary(&'a BinaryArray),
    Large(&'a LargeBinaryArray),
    View(&'a BinaryViewArray),
    Fixed(&'a FixedSizeBinaryArray),
}

impl<'a> Bins<'a> {
    #[inline]
    pub(crate) fn value(&self, i: usize) -> &'a [u8] {
        match self {
            Bins::Binary(a) => a.value(i),
            Bins::Large(a) => a.value(i),
            Bins::View(a) => a.value(i),
            Bins::Fixed(a) => a.value(i),
        }
    }
}

/// A downcast column.
#[derive(Clone, Copy)]
pub(crate) enum View<'a> {
    Scalar(Leaf<'a>),
    Str(Strs<'a>),
    Bytes(Bins<'a>),
    /// Days since 1970-01-01.
    Date(&'a [i32]),
    Timestamp(&'a [i64], TimeUnit),
    /// Child values (already sliced to this array), child nulls, element count per row.
    FixedList(Leaf<'a>, Option<&'a NullBuffer>, usize),
    /// Child values, child nulls, offsets into the child.
    List(Leaf<'a>, Option<&'a NullBuffer>, Offsets<'a>),
}

/// One column of a batch, downcast once, with its row validity.
#[derive(Clone, Copy)]
pub(crate) struct Column<'a> {
    pub(crate) view: View<'a>,
    pub(crate) nulls: Option<&'a NullBuffer>,
}

impl Column<'_> {
    #[inline]
    pub(crate) fn is_null(&self, r: usize) -> bool {
        self.nulls.is_some_and(|n| n.is_null(r))
    }

    pub(crate) fn has_nulls(&self) -> bool {
        self.nulls.is_some_and(|n| n.null_count() > 0)
    }
}

/// Views of every canonical array of a batch, one per column kind (what each writer iterates).
pub(crate) fn views_of<'a>(arrays: &'a [ArrayRef], kinds: &[Kind]) -> Result<Vec<Column<'a>>> {
    arrays
        .iter()
        .zip(kinds)
        .map(|(a, k)| view_of(a, *k))
        .collect()
}

/// Downcast a canonical array (see [`canonical_arrays`]) of kind `k`.
pub(crate) fn view_of(a: &ArrayRef, k: Kind) -> Result<Column<'_>> {
    let wrong = || FormatError::Internal(format!("cannot view {} as {:?}", a.data_type(), k));
    let view = match k {
        Kind::Scalar(s) => View::Scalar(Leaf::of(a.as_ref(), s)?),
        Kind::Str => View::Str(match a.data_type() {
            DataType::Utf8 => Strs::Utf8(a.as_string::<i32>()),
            DataType::LargeUtf8 => Strs::Large(a.as_string::<i64>()),
            DataType::Utf8View => Strs::View(a.as_string_view()),
            _ => return Err(wrong()),
        }),
        Kind::Bytes => View::Bytes(match a.data_type() {
            DataType::Binary => Bins::Binary(a.as_binary::<i32>()),
            DataType::LargeBinary => Bins::Large(a.as_binary::<i64>()),
            DataType::BinaryView => Bins::View(a.as_binary_view()),
            DataType::FixedSizeBinary(_) => Bins::Fixed(a.as_fixed_size_binary()),
            _ => return Err(wrong()),
        }),
        Kind::Date => View::Date(
            a.as_primitive_opt::<Date32Type>()
                .ok_or_else(wrong)?
                .values(),
        ),
        Kind::Timestamp => match a.data_type() {
            DataType::Timestamp(unit, _) => {
                let v: &[i64] = match unit {
                    TimeUnit::Second => a.as_primitive::<TimestampSecondType>().values(),
                    TimeUnit::Millisecond => a.as_primitive::<TimestampMillisecondType>().values(),
                    TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().values(),
                    TimeUnit::Nanosecond => a.as_primitive::<TimestampNanosecondType>().values(),
                };
                View::Timestamp(v, *unit)
            }
            _ => return Err(wrong()),
        },
        Kind::FixedList(s, n) => {
            let l = a.as_fixed_size_list_opt().ok_or_else(wrong)?;
            let child = l.values();
            View::FixedList(
                Leaf::of(child.as_ref(), s)?,
                child.nulls(),
                usize::try_from(n).map_err(|_| wrong())?,
            )
        }
        Kind::List(s) => match a.data_type() {
            DataType::List(_) => {
                let l = a.as_list::<i32>();
                View::List(
                    Leaf::of(l.values().as_ref(), s)?,
                    l.values().nulls(),
                    Offsets::Small(l.value_offsets()),
                )
            }
            DataType::LargeList(_) => {
                let l = a.as_list::<i64>();
                View::List(
                    Leaf::of(l.values().as_ref(), s)?,
                    l.values().nulls(),
                    Offsets::Large(l.value_offsets()),
                )
            }
            _ => return Err(wrong()),
        },
    };
    Ok(Column {
        view,
        nulls: a.nulls(),
    })
}
