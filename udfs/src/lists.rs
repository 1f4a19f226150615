//! Row access to list and number arguments shared by the science functions: lists of
//! Float32/Float64 (List, LargeList or FixedSizeList) borrowed without copying, scalars
//! broadcast to every row, and the matching type coercions.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Float32Type, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::ColumnarValue;

/// One row of a float list column, borrowed from the Arrow buffers.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Floats<'a> {
    F32(&'a [f32]),
    F64(&'a [f64]),
}

impl Floats<'_> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Floats::F32(v) => v.len(),
            Floats::F64(v) => v.len(),
        }
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> f64 {
        match self {
            Floats::F32(v) => f64::from(v[i]),
            Floats::F64(v) => v[i],
        }
    }

    /// Copies into `out` (cleared first); false if an element is not finite.
    pub(crate) fn copy_finite(&self, out: &mut Vec<f64>) -> bool {
        out.clear();
        match self {
            Floats::F32(v) => out.extend(v.iter().map(|&x| f64::from(x))),
            Floats::F64(v) => out.extend_from_slice(v),
        }
        out.iter().all(|x| x.is_finite())
    }

    /// True when every element is finite.
    pub(crate) fn all_finite(&self) -> bool {
        match self {
            Floats::F32(v) => v.iter().all(|x| x.is_finite()),
            Floats::F64(v) => v.iter().all(|x| x.is_finite()),
        }
    }

    /// Equal values (used to recognise a repeated template row). NaN never compares equal,
    /// which only costs a recomputation. No early exit, so that the loop vectorises.
    pub(crate) fn same(&self, other: &Floats<'_>) -> bool {
        match (self, other) {
            (Floats::F32(a), Floats::F32(b)) => {
                a.len() == b.len() && !a.iter().zip(*b).fold(false, |d, (x, y)| d | (x != y))
            }
            (Floats::F64(a), Floats::F64(b)) => {
                a.len() == b.len() && !a.iter().zip(*b).fold(false, |d, (x, y)| d | (x != y))
            }
            _ => false,
        }
    }
}

/// A list-of-floats argument (List, LargeList or FixedSizeList of Float32/Float64), possibly
/// a scalar (one row used for every output row).
pub(crate) struct FloatLists {
    array: ArrayRef,
    scalar: bool,
}

impl FloatLists {
    pub(crate) fn new(value: &ColumnarValue, what: &'static str) -> Result<Self> {
        let (array, scalar) = match value {
            ColumnarValue::Array(a) => (a.clone(), false),
            ColumnarValue::Scalar(s) => (s.to_array_of_size(1)?, true),
        };
        let child = match array.data_type() {
            DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
                f.data_type().clone()
            }
            DataType::Null => DataType::Float64,
            other => return exec_err!("{what} must be an array of numbers, got {other}"),
        };
        if !matches!(child, DataType::Float32 | DataType::Float64) {
            return exec_err!("{what} must be an array of floats, got elements of type {child}");
        }
        Ok(Self { array, scalar })
    }

    /// Row `i`, or None if it is NULL or holds a NULL element.
    pub(crate) fn row(&self, i: usize) -> Option<Floats<'_>> {
        let r = self.row_lenient(i)?;
        if let Some(nulls) = r.nulls
            && (r.start..r.start + r.values.len()).any(|k| nulls.is_null(k))
        {
            return None;
        }
        Some(r.values)
    }

    /// Row `i` with its element validity (None if the row itself is NULL).
    pub(crate) fn row_lenient(&self, i: usize) -> Option<LenientRow<'_>> {
        let i = if self.scalar { 0 } else { i };
        let a = &self.array;
        if a.is_null(i) {
            return None;
        }
        let (values, start, len) = match a.data_type() {
            DataType::List(_) => {
                let l = a.as_list::<i32>();
                let o = l.value_offsets();
                (l.values(), o[i] as usize, (o[i + 1] - o[i]) as usize)
            }
            DataType::LargeList(_) => {
                let l = a.as_list::<i64>();
                let o = l.value_offsets();
                (l.values(), o[i] as usize, (o[i + 1] - o[i]) as usize)
            }
            DataType::FixedSizeList(_, _) => {
                let l = a.as_fixed_size_list();
                let n = l.value_length() as usize;
                (l.values(), l.value_offset(i) as usize, n)
            }
            _ => return None,
        };
        let floats = match values.data_type() {
            DataType::Float32 => {
                Floats::F32(&values.as_primitive::<Float32Type>().values()[start..start + len])
            }
            DataType::Float64 => {
                Floats::F64(&values.as_primitive::<Float64Type>().values()[start..start + len])
            }
            _ => return None,
        };
        Some(LenientRow {
            values: floats,
            nulls: values.nulls(),
            start,
        })
    }
}

/// A row whose elements may be NULL.
pub(crate) struct LenientRow<'a> {
    values: Floats<'a>,
    nulls: Option<&'a NullBuffer>,
    start: usize,
}

impl LenientRow<'_> {
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// Element `k`, None when NULL.
    #[inline]
    pub(crate) fn get(&self, k: usize) -> Option<f64> {
        match self.nulls {
            Some(n) if n.is_null(self.start + k) => None,
            _ => Some(self.values.get(k)),
        }
    }
}

/// A numeric scalar-per-row argument, read as f64 (NULL -> None).
pub(crate) struct Numbers {
    array: ArrayRef,
    scalar: bool,
}

impl Numbers {
    pub(crate) fn new(value: &ColumnarValue) -> Result<Self> {
        let (array, scalar) = match value {
            ColumnarValue::Array(a) => (a.clone(), false),
            ColumnarValue::Scalar(s) => (s.to_array_of_size(1)?, true),
        };
        let array = datafusion::arrow::compute::cast(&array, &DataType::Float64)?;
        Ok(Self { array, scalar })
    }

    pub(crate) fn get(&self, i: usize) -> Option<f64> {
        let i = if self.scalar { 0 } else { i };
        let a = self.array.as_primitive::<Float64Type>();
        a.is_valid(i).then(|| a.value(i))
    }
}

/// True for the list types accepted for spectra arguments.
pub(crate) fn is_float_list(t: &DataType) -> bool {
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            matches!(f.data_type(), DataType::Float32 | DataType::Float64)
        }
        _ => false,
    }
}

/// Coerces a list argument: float lists are kept (no copy); lists of other numbers become
/// `List<Float64>`; NULL stays NULL.
pub(crate) fn coerce_list(t: &DataType, function: &str, what: &str) -> Result<DataType> {
    match t {
        t if is_float_list(t) => Ok(t.clone()),
        DataType::Null => Ok(DataType::Null),
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _)
            if f.data_type().is_numeric() || f.data_type() == &DataType::Null =>
        {
            Ok(DataType::List(Arc::new(Field::new(
                "item",
                DataType::Float64,
                true,
            ))))
        }
        other => plan_err!("{function}: {what} must be an array of numbers, got {other}"),
    }
}

/// Coerces a numeric scalar argument to Float64.
pub(crate) fn coerce_number(t: &DataType, function: &str, what: &str) -> Result<DataType> {
    if t.is_numeric() || t == &DataType::Null {
        Ok(DataType::Float64)
    } else {
        plan_err!("{function}: {what} must be a number, got {t}")
    }
}

/// A constant string argument, lower-cased.
pub(crate) fn constant_string(
    value: &ColumnarValue,
    function: &'static str,
    argument: &'static str,
) -> Result<String> {
    match value {
        ColumnarValue::Scalar(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
        ) => Ok(s.to_ascii_lowercase()),
        _ => Err(datafusion::error::DataFusionError::Execution(
            crate::UdfError::NotConstant { function, argument }.to_string(),
        )),
    }
}
