//! Column metadata and the single Arrow -> VOTable type mapping.
//!
//! TAP 1.1 §4.3 and taplint's MDQ stage require that the `datatype`/`arraysize`/`xtype`
//! declared in TAP_SCHEMA and `/tables` equal what a query returns, so the catalogue and the
//! writers both call [`votable_type`].

use datafusion::arrow::datatypes::{DataType, Field, TimeUnit};

/// Per-column metadata written into VOTable FIELDs, JSON metadata and Parquet/Arrow schemas.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColumnMeta {
    /// Column name as the client sees it (select-list name or alias).
    pub name: String,
    /// Free-text description (VOTable `DESCRIPTION`).
    pub description: Option<String>,
    /// VOUnit string, e.g. `deg` or `mas.yr**-1`.
    pub unit: Option<String>,
    /// UCD1+ word list, e.g. `pos.eq.ra;meta.main`.
    pub ucd: Option<String>,
    /// Data-model utype.
    pub utype: Option<String>,
    /// DALI xtype (`point`, `circle`, `timestamp`, ...); overrides the type-derived one.
    pub xtype: Option<String>,
}

impl ColumnMeta {
    /// Metadata keys read by [`ColumnMeta::from_field`] and written by the Arrow/Parquet writers.
    pub const METADATA_KEYS: [&'static str; 5] = ["description", "unit", "ucd", "utype", "xtype"];

    /// A column with only a name.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Read name and the field-metadata keys `description`, `unit`, `ucd`, `utype`, `xtype`.
    pub fn from_field(field: &Field) -> Self {
        let md = field.metadata();
        let get = |k: &str| md.get(k).filter(|v| !v.is_empty()).cloned();
        Self {
            name: field.name().clone(),
            description: get("description"),
            unit: get("unit"),
            ucd: get("ucd"),
            utype: get("utype"),
            xtype: get("xtype"),
        }
    }

    /// `(key, value)` pairs of the metadata that is set, in [`Self::METADATA_KEYS`] order.
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("description", &self.description),
            ("unit", &self.unit),
            ("ucd", &self.ucd),
            ("utype", &self.utype),
            ("xtype", &self.xtype),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
    }
}

/// An INFO element written in the RESOURCE before the TABLE (TAP §3.1 / DALI §4.4).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Info {
    /// `name` attribute, e.g. `QUERY`.
    pub name: String,
    /// `value` attribute.
    pub value: String,
    /// Optional element text.
    pub content: Option<String>,
}

impl Info {
    /// An INFO without text content.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            content: None,
        }
    }
}

/// A VOTable type: `datatype`, `arraysize` and the type-implied `xtype`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoType {
    /// VOTable primitive datatype (`boolean`, `short`, `int`, `long`, `float`, `double`,
    /// `char`, `unsignedByte`).
    pub datatype: &'static str,
    /// `arraysize` attribute, `None` for scalars (`"*"` or `"2"` otherwise).
    pub arraysize: Option<String>,
    /// xtype implied by the Arrow type (`timestamp` for dates and timestamps).
    pub xtype: Option<&'static str>,
}

/// Map an Arrow type to the VOTable type used for it everywhere in Parallax.
///
/// Unsigned types widen (`UInt8` -> `short`, `UInt16` -> `int`, `UInt32`/`UInt64` -> `long`;
/// `UInt64` values above `i64::MAX` are written as NULL). Decimals become `double`.
/// Dates and timestamps are ISO-8601 strings with `xtype="timestamp"` (DALI §3.3.3).
/// Returns `None` for types we cannot write (structs, maps, intervals, lists of strings, ...).
pub fn votable_type(dt: &DataType) -> Option<VoType> {
    Kind::of(dt).map(|k| k.vo_type())
}

/// TAP_SCHEMA.columns `"size"` (TAP 1.1 §4.3): the leading integer of an arraysize
/// (`"64*"` -> 64, `"2"` -> 2), `None` for scalars and for `"*"`.
pub fn arraysize_to_size(arraysize: Option<&str>) -> Option<i32> {
    let a = arraysize?;
    let end = a.find(|c: char| !c.is_ascii_digit()).unwrap_or(a.len());
    a[..end].parse().ok()
}

/// The scalar element types the encoders work with after casting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scalar {
    Bool,
    I16,
    I32,
    I64,
    F32,
    F64,
}

impl Scalar {
    fn of(dt: &DataType) -> Option<Self> {
        use DataType::*;
        Some(match dt {
            Boolean => Self::Bool,
            Int8 | Int16 | UInt8 => Self::I16,
            Int32 | UInt16 => Self::I32,
            Int64 | UInt32 | UInt64 => Self::I64,
            Float16 | Float32 => Self::F32,
            Float64 | Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..) => Self::F64,
            _ => return None,
        })
    }

    pub(crate) fn arrow(self) -> DataType {
        match self {
            Self::Bool => DataType::Boolean,
            Self::I16 => DataType::Int16,
            Self::I32 => DataType::Int32,
            Self::I64 => DataType::Int64,
            Self::F32 => DataType::Float32,
            Self::F64 => DataType::Float64,
        }
    }

    pub(crate) fn vo(self) -> &'static str {
        match self {
            Self::Bool => "boolean",
            Self::I16 => "short",
            Self::I32 => "int",
            Self::I64 => "long",
            Self::F32 => "float",
            Self::F64 => "double",
        }
    }

    /// The VOTable BINARY null sentinel for integers (`<VALUES null=.../>`).
    pub(crate) fn int_null(self) -> Option<i64> {
        match self {
            Self::I16 => Some(i16::MIN.into()),
            Self::I32 => Some(i32::MIN.into()),
            Self::I64 => Some(i64::MIN),
            _ => None,
        }
    }
}

/// The physical shape a column is written as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Scalar(Scalar),
    Str,
    Bytes,
    Date,
    Timestamp,
    FixedList(Scalar, i32),
    List(Scalar),
}

impl Kind {
    pub(crate) fn of(dt: &DataType) -> Option<Self> {
        use DataType::*;
        if let Some(s) = Scalar::of(dt) {
            return Some(Self::Scalar(s));
        }
        Some(match dt {
            Utf8 | LargeUtf8 | Utf8View => Self::Str,
            Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => Self::Bytes,
            Date32 => Self::Date,
            Date64 | Timestamp(..) => Self::Timestamp,
            FixedSizeList(f, n) if *n >= 0 => Self::FixedList(Scalar::of(f.data_type())?, *n),
            List(f) | LargeList(f) | ListView(f) | LargeListView(f) => {
                Self::List(Scalar::of(f.data_type())?)
            }
            Dictionary(_, v) => match Self::of(v)? {
                k @ (Self::Scalar(_) | Self::Str | Self::Bytes | Self::Date | Self::Timestamp) => k,
                _ => return None,
            },
            _ => return None,
        })
    }

    pub(crate) fn vo_type(self) -> VoType {
        let (datatype, arraysize, xtype) = match self {
            Self::Scalar(s) => (s.vo(), None, None),
            Self::Str => ("char", Some("*".to_owned()), None),
            Self::Bytes => ("unsignedByte", Some("*".to_owned()), None),
            Self::Date | Self::Timestamp => ("char", Some("*".to_owned()), Some("timestamp")),
            Self::FixedList(s, n) => (s.vo(), Some(n.to_string()), None),
            Self::List(s) => (s.vo(), Some("*".to_owned()), None),
        };
        VoType {
            datatype,
            arraysize,
            xtype,
        }
    }

    /// The Arrow type an array of type `dt` must be cast to before encoding,
    /// or `None` when it can be encoded as it is.
    pub(crate) fn cast_target(self, dt: &DataType) -> Option<DataType> {
        use DataType::*;
        let item = |s: Scalar| std::sync::Arc::new(Field::new("item", s.arrow(), true));
        match (self, dt) {
            (Self::Scalar(s), dt) if *dt == s.arrow() => None,
            (Self::Scalar(s), _) => Some(s.arrow()),
            (Self::Str, Utf8 | LargeUtf8 | Utf8View) => None,
            (Self::Str, Dictionary(_, v)) => Some(v.as_ref().clone()),
            (Self::Str, _) => Some(Utf8),
            (Self::Bytes, Binary | LargeBinary | BinaryView | FixedSizeBinary(_)) => None,
            (Self::Bytes, Dictionary(_, v)) => Some(v.as_ref().clone()),
            (Self::Bytes, _) => Some(Binary),
            (Self::Date, Date32) => None,
            (Self::Date, _) => Some(Date32),
            (Self::Timestamp, Timestamp(..)) => None,
            (Self::Timestamp, Dictionary(_, v)) if matches!(v.as_ref(), Timestamp(..)) => {
                Some(v.as_ref().clone())
            }
            (Self::Timestamp, _) => Some(Timestamp(TimeUnit::Millisecond, None)),
            (Self::FixedList(s, _), FixedSizeList(f, _)) if *f.data_type() == s.arrow() => None,
            (Self::FixedList(s, n), _) => Some(FixedSizeList(item(s), n)),
            (Self::List(s), List(f) | LargeList(f)) if *f.data_type() == s.arrow() => None,
            (Self::List(s), LargeList(_) | LargeListView(_)) => Some(LargeList(item(s))),
            (Self::List(s), _) => Some(List(item(s))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Arc;

    fn vt(dt: DataType) -> Option<(&'static str, Option<String>, Option<&'static str>)> {
        votable_type(&dt).map(|v| (v.datatype, v.arraysize, v.xtype))
    }

    #[test]
    fn mapping_matches_the_table() {
        use DataType::*;
        let s = |d| Some((d, None, None));
        assert_eq!(vt(Boolean), s("boolean"));
        for t in [Int8, Int16, UInt8] {
            assert_eq!(vt(t), s("short"));
        }
        for t in [Int32, UInt16] {
            assert_eq!(vt(t), s("int"));
        }
        for t in [Int64, UInt32, UInt64] {
            assert_eq!(vt(t), s("long"));
        }
        for t in [Float16, Float32] {
            assert_eq!(vt(t), s("float"));
        }
        for t in [Float64, Decimal128(10, 3), Decimal256(40, 2)] {
            assert_eq!(vt(t), s("double"));
        }
        for t in [Utf8, LargeUtf8, Utf8View] {
            assert_eq!(vt(t), Some(("char", Some("*".into()), None)));
        }
        for t in [
            Date32,
            Date64,
            Timestamp(TimeUnit::Microsecond, None),
            Timestamp(TimeUnit::Second, Some("UTC".into())),
        ] {
            assert_eq!(vt(t), Some(("char", Some("*".into()), Some("timestamp"))));
        }
        let f = |t| Arc::new(Field::new("item", t, true));
        assert_eq!(
            vt(FixedSizeList(f(Float64), 2)),
            Some(("double", Some("2".into()), None))
        );
        assert_eq!(vt(List(f(Int32))), Some(("int", Some("*".into()), None)));
        assert_eq!(
            vt(LargeList(f(Float32))),
            Some(("float", Some("*".into()), None))
        );
        assert_eq!(
            vt(ListView(f(Int8))),
            Some(("short", Some("*".into()), None))
        );
        for t in [Binary, LargeBinary, BinaryView, FixedSizeBinary(16)] {
            assert_eq!(vt(t), Some(("unsignedByte", Some("*".into()), None)));
        }
        assert_eq!(vt(List(f(Utf8))), None);
        assert_eq!(vt(List(f(List(f(Int32))))), None);
        assert_eq!(vt(Null), None);
        assert_eq!(vt(Struct(Default::default())), None);
        assert_eq!(
            vt(Dictionary(Box::new(Int32), Box::new(Utf8))),
            Some(("char", Some("*".into()), None))
        );
    }

    #[test]
    fn size_from_arraysize() {
        assert_eq!(arraysize_to_size(None), None);
        assert_eq!(arraysize_to_size(Some("*")), None);
        assert_eq!(arraysize_to_size(Some("64*")), Some(64));
        assert_eq!(arraysize_to_size(Some("2")), Some(2));
        assert_eq!(arraysize_to_size(Some("3x*")), Some(3));
    }

    #[test]
    fn column_meta_from_field_metadata() {
        let f = Field::new("ra", DataType::Float64, true).with_metadata(HashMap::from([
            ("unit".to_owned(), "deg".to_owned()),
            ("ucd".to_owned(), "pos.eq.ra;meta.main".to_owned()),
            ("description".to_owned(), "Right ascension".to_owned()),
            ("utype".to_owned(), String::new()),
        ]));
        let m = ColumnMeta::from_field(&f);
        assert_eq!(m.name, "ra");
        assert_eq!(m.unit.as_deref(), Some("deg"));
        assert_eq!(m.ucd.as_deref(), Some("pos.eq.ra;meta.main"));
        assert_eq!(m.description.as_deref(), Some("Right ascension"));
        assert_eq!(m.utype, None);
        assert_eq!(m.xtype, None);
    }
}
