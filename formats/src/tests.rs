//! Writer and driver tests: every format end to end through [`encode_stream`].

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, FixedSizeListArray, Float32Array, Float64Array,
    Int8Array, Int32Array, Int64Array, LargeStringArray, ListArray, RecordBatch, StringArray,
    StringViewArray, StructArray, TimestampMillisecondArray, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int32Type, Schema, SchemaRef};
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;

use crate::*;

type Item = std::result::Result<RecordBatch, DataFusionError>;

fn input(schema: SchemaRef, items: Vec<Item>) -> SendableRecordBatchStream {
    Box::pin(RecordBatchStreamAdapter::new(
        schema,
        futures::stream::iter(items),
    ))
}

/// Run the driver to the end; the concatenated bytes and the error, if any.
async fn run(
    format: OutputFormat,
    schema: SchemaRef,
    items: Vec<Item>,
    maxrec: Option<u64>,
) -> (Vec<u8>, Option<FormatError>, Vec<usize>) {
    let infos = vec![Info {
        name: "QUERY".into(),
        value: "SELECT \"a\" < 1 & 2".into(),
        content: Some("echo <query>".into()),
    }];
    let w = new_writer(format, schema.clone(), vec![], infos).unwrap();
    let mut s = Box::pin(encode_stream(w, input(schema, items), maxrec));
    let (mut out, mut err, mut sizes) = (Vec::new(), None, Vec::new());
    while let Some(item) = s.next().await {
        match item {
            Ok(b) => {
                assert!(err.is_none(), "bytes after an error");
                sizes.push(b.len());
                out.extend_from_slice(&b);
            }
            Err(e) => err = Some(e),
        }
    }
    (out, err, sizes)
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

/// Well-formedness via quick-xml (matching end tags, valid entities).
fn assert_well_formed(xml: &str) {
    let mut r = quick_xml::Reader::from_str(xml);
    let mut depth = 0i32;
    loop {
        match r.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(quick_xml::events::Event::Start(_)) => depth += 1,
            Ok(quick_xml::events::Event::End(_)) => depth -= 1,
            Ok(_) => {}
            Err(e) => panic!("not well-formed at {}: {e}\n{xml}", r.buffer_position()),
        }
    }
    assert_eq!(depth, 0, "unbalanced document:\n{xml}");
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#13;", "\r")
        .replace("&#10;", "\n")
        .replace("&#9;", "\t")
        .replace("&amp;", "&")
}

/// TABLEDATA cells, row by row.
fn td_rows(xml: &str) -> Vec<Vec<String>> {
    xml.split("<TR>")
        .skip(1)
        .map(|tr| {
            let tr = &tr[..tr.find("</TR>").unwrap()];
            tr.split("<TD>")
                .skip(1)
                .map(|td| unescape(&td[..td.find("</TD>").unwrap()]))
                .collect()
        })
        .collect()
}

/// QUERY_STATUS values in document order.
fn statuses(xml: &str) -> Vec<String> {
    xml.match_indices("name=\"QUERY_STATUS\" value=\"")
        .map(|(i, m)| {
            let rest = &xml[i + m.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

fn mixed() -> (SchemaRef, RecordBatch) {
    let item = |t| Arc::new(Field::new("item", t, true));
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false).with_metadata(HashMap::from([
            ("ucd".into(), "meta.id;meta.main".into()),
            ("description".into(), "Source <id> & \"key\"".into()),
        ])),
        Field::new("ra", DataType::Float64, true)
            .with_metadata(HashMap::from([("unit".into(), "deg".into())])),
        Field::new("mag", DataType::Float32, true),
        Field::new("flag", DataType::Boolean, true),
        Field::new("name", DataType::Utf8, true),
        Field::new(
            "pos",
            DataType::FixedSizeList(item(DataType::Float64), 2),
            true,
        )
        .with_metadata(HashMap::from([("xtype".into(), "point".into())])),
        Field::new("obs", DataType::List(item(DataType::Int32)), true),
        Field::new("small", DataType::Int8, true),
        Field::new(
            "t",
            DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Millisecond, None),
            true,
        ),
    ]));
    let pos = FixedSizeListArray::try_new(
        item(DataType::Float64),
        2,
        Arc::new(Float64Array::from(vec![
            Some(1.5),
            Some(-2.0),
            Some(0.0),
            None,
            Some(9.0),
            Some(9.0),
        ])),
        Some(vec![true, true, false].into()),
    )
    .unwrap();
    let obs = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
        Some(vec![Some(1), Some(2), Some(3)]),
        None,
        Some(vec![]),
    ]);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![4295806720, -1, i64::MAX])),
        Arc::new(Float64Array::from(vec![Some(0.1), None, Some(f64::NAN)])),
        Arc::new(Float32Array::from(vec![
            Some(f32::INFINITY),
            Some(1.25),
            Some(f32::NEG_INFINITY),
        ])),
        Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
        Arc::new(StringArray::from(vec![
            Some("a<b & \"c\", d\te\r\nf\u{1}"),
            None,
            Some(""),
        ])),
        Arc::new(pos),
        Arc::new(obs),
        Arc::new(Int8Array::from(vec![Some(-7), None, Some(127)])),
        Arc::new(TimestampMillisecondArray::from(vec![
            Some(1_700_000_000_120),
            None,
            Some(0),
        ])),
    ];
    let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
    (schema, batch)
}

fn ints(start: i64, n: usize) -> RecordBatch {
    let schema = int_schema();
    let v: Vec<i64> = (start..start + n as i64).collect();
    RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(v))]).unwrap()
}

fn int_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]))
}

#[tokio::test]
async fn tabledata_nulls_nan_arrays_escaping() {
    let (schema, batch) = mixed();
    let (out, err, _) = run(
        OutputFormat::VotableTabledata,
        schema,
        vec![Ok(batch)],
        None,
    )
    .await;
    assert!(err.is_none());
    let xml = text(&out);
    assert_well_formed(&xml);
    assert!(xml.contains("version=\"1.4\"") && xml.contains("VOTable/v1.3\""));
    assert!(xml.contains("<RESOURCE type=\"results\">"));
    assert_eq!(statuses(&xml), ["OK"]);
    let ok = xml.find("QUERY_STATUS").unwrap();
    let query = xml.find("name=\"QUERY\"").unwrap();
    assert!(ok < query && query < xml.find("<TABLE>").unwrap());
    assert!(
        xml.contains("value=\"SELECT &quot;a&quot; &lt; 1 &amp; 2\">echo &lt;query&gt;</INFO>")
    );
    assert!(xml.contains(
        "<FIELD name=\"id\" datatype=\"long\" ucd=\"meta.id;meta.main\"><DESCRIPTION>Source &lt;id&gt; &amp; \"key\"</DESCRIPTION></FIELD>"
    ));
    assert!(xml.contains("<FIELD name=\"ra\" datatype=\"double\" unit=\"deg\"/>"));
    assert!(
        xml.contains("<FIELD name=\"pos\" datatype=\"double\" arraysize=\"2\" xtype=\"point\"/>")
    );
    assert!(xml.contains("<FIELD name=\"obs\" datatype=\"int\" arraysize=\"*\"/>"));
    assert!(xml.contains("<FIELD name=\"small\" datatype=\"short\"/>"));
    assert!(
        xml.contains("<FIELD name=\"t\" datatype=\"char\" arraysize=\"*\" xtype=\"timestamp\"/>")
    );
    let rows = td_rows(&xml);
    assert_eq!(
        rows,
        vec![
            vec![
                "4295806720",
                "0.1",
                "+Inf",
                "T",
                "a<b & \"c\", d\te\r\nf\u{FFFD}",
                "1.5 -2.0",
                "1 2 3",
                "-7",
                "2023-11-14T22:13:20.12"
            ],
            vec!["-1", "", "1.25", "F", "", "0.0 NaN", "", "", ""],
            vec![
                &i64::MAX.to_string(),
                "NaN",
                "-Inf",
                "",
                "",
                "",
                "",
                "127",
                "1970-01-01T00:00:00"
            ],
        ]
    );
}

/// Decode a BINARY2 stream of the `mixed()` schema back into TABLEDATA-like strings.
fn decode_binary2(xml: &str, bitmap: bool) -> Vec<Vec<String>> {
    let start = xml.find("<STREAM encoding=\"base64\">").unwrap() + 26;
    let end = xml.find("</STREAM>").unwrap();
    let b64: String = xml[start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let mut p = 0;
    let mut take = |n: usize| {
        let s = &raw[p..p + n];
        p += n;
        s.to_vec()
    };
    let mut rows = Vec::new();
    let f64s = |b: &[u8]| f64::from_be_bytes(b.try_into().unwrap());
    let fmt = |v: f64| {
        if v.is_nan() {
            "NaN".to_owned()
        } else {
            format!("{v:?}")
        }
    };
    while rows.len() < 3 {
        let nulls = if bitmap { take(2) } else { vec![0, 0] };
        let is_null = |c: usize| nulls[c / 8] & (0x80 >> (c % 8)) != 0;
        let mut row = Vec::new();
        let id = i64::from_be_bytes(take(8).try_into().unwrap());
        row.push(id.to_string());
        let ra = f64s(&take(8));
        row.push(if is_null(1) { "NULL".into() } else { fmt(ra) });
        let mag = f32::from_be_bytes(take(4).try_into().unwrap());
        row.push(mag.to_string());
        let flag = take(1)[0] as char;
        row.push(if is_null(3) {
            format!("NULL{flag}")
        } else {
            flag.to_string()
        });
        let n = u32::from_be_bytes(take(4).try_into().unwrap()) as usize;
        let s = String::from_utf8(take(n)).unwrap();
        row.push(if is_null(4) { format!("NULL{s}") } else { s });
        let (a, b) = (f64s(&take(8)), f64s(&take(8)));
        row.push(if is_null(5) {
            "NULL".into()
        } else {
            format!("{} {}", fmt(a), fmt(b))
        });
        let n = u32::from_be_bytes(take(4).try_into().unwrap()) as usize;
        let v: Vec<String> = (0..n)
            .map(|_| i32::from_be_bytes(take(4).try_into().unwrap()).to_string())
            .collect();
        row.push(if is_null(6) {
            format!("NULL{}", v.join(" "))
        } else {
            v.join(" ")
        });
        let small = i16::from_be_bytes(take(2).try_into().unwrap());
        row.push(if is_null(7) {
            format!("NULL{small}")
        } else {
            small.to_string()
        });
        let n = u32::from_be_bytes(take(4).try_into().unwrap()) as usize;
        let t = String::from_utf8(take(n)).unwrap();
        row.push(if is_null(8) { format!("NULL{t}") } else { t });
        rows.push(row);
    }
    assert_eq!(p, raw.len(), "trailing bytes in the stream");
    rows
}

#[tokio::test]
async fn binary2_round_trips_across_batches() {
    let (schema, batch) = mixed();
    // One-row batches: each chunk leaves a 0-2 byte base64 remainder for the next one.
    let items = (0..3).map(|i| Ok(batch.slice(i, 1))).collect();
    let (out, err, _) = run(OutputFormat::VotableBinary2, schema, items, None).await;
    assert!(err.is_none());
    let xml = text(&out);
    assert_well_formed(&xml);
    assert!(xml.contains("<DATA><BINARY2><STREAM encoding=\"base64\">"));
    let b64: String = {
        let s = xml.find("base64\">").unwrap() + 8;
        xml[s..xml.find("</STREAM>").unwrap()].to_owned()
    };
    // Padding only at the very end.
    assert!(!b64.trim_end().trim_end_matches('=').contains('='));
    let rows = decode_binary2(&xml, true);
    assert_eq!(
        rows[0],
        [
            "4295806720",
            "0.1",
            "inf",
            "T",
            "a<b & \"c\", d\te\r\nf\u{1}",
            "1.5 -2.0",
            "1 2 3",
            "-7",
            "2023-11-14T22:13:20.12"
        ]
    );
    assert_eq!(
        rows[1],
        [
            "-1",
            "NULL",
            "1.25",
            "F",
            "NULL",
            "0.0 NaN",
            "NULL",
            "NULL-32768",
            "NULL"
        ]
    );
    assert_eq!(
        rows[2],
        [
            &i64::MAX.to_string(),
            "NaN",
            "-inf",
            "NULL?",
            "",
            "NULL",
            "",
            "127",
            "1970-01-01T00:00:00"
        ]
    );
}

#[tokio::test]
async fn binary_uses_null_sentinels() {
    let (schema, batch) = mixed();
    let (out, err, _) = run(OutputFormat::VotableBinary, schema, vec![Ok(batch)], None).await;
    assert!(err.is_none());
    let xml = text(&out);
    assert_well_formed(&xml);
    assert!(xml.contains("<DATA><BINARY><STREAM"));
    assert!(
        xml.contains("<FIELD name=\"small\" datatype=\"short\"><VALUES null=\"-32768\"/></FIELD>")
    );
    assert!(xml.contains("<VALUES null=\"-9223372036854775808\"/>"));
    let rows = decode_binary2(&xml, false);
    assert_eq!(rows[1][7], "-32768");
    assert_eq!(rows[1][1], "NaN");
    assert_eq!(rows[2][3], "?");
}

#[tokio::test]
async fn binary2_many_batches_decode_to_the_same_values() {
    let schema = int_schema();
    let items: Vec<Item> = (0..50).map(|i| Ok(ints(i * 7, 7))).collect();
    let (out, _, _) = run(OutputFormat::VotableBinary2, schema, items, None).await;
    let xml = text(&out);
    let s = xml.find("base64\">").unwrap() + 8;
    let b64: String = xml[s..xml.find("</STREAM>").unwrap()]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert_eq!(raw.len(), 350 * 9);
    for (i, row) in raw.chunks(9).enumerate() {
        assert_eq!(row[0], 0);
        assert_eq!(i64::from_be_bytes(row[1..].try_into().unwrap()), i as i64);
    }
}

#[tokio::test]
async fn maxrec_slices_across_batches_and_flags_overflow() {
    for format in [OutputFormat::VotableTabledata, OutputFormat::VotableBinary2] {
        let items = vec![Ok(ints(0, 3)), Ok(ints(3, 3)), Ok(ints(6, 3))];
        let (out, err, _) = run(format, int_schema(), items, Some(5)).await;
        assert!(err.is_none());
        let xml = text(&out);
        assert_well_formed(&xml);
        assert_eq!(statuses(&xml), ["OK", "OVERFLOW"]);
        let table_end = xml.find("</TABLE>").unwrap();
        assert!(xml.rfind("OVERFLOW").unwrap() > table_end);
        assert!(xml.rfind("OVERFLOW").unwrap() < xml.find("</RESOURCE>").unwrap());
        if format == OutputFormat::VotableTabledata {
            let rows: Vec<String> = td_rows(&xml).into_iter().map(|r| r[0].clone()).collect();
            assert_eq!(rows, ["0", "1", "2", "3", "4"]);
        }
    }
    // Exactly maxrec rows: complete, no overflow.
    let items = vec![Ok(ints(0, 3)), Ok(ints(3, 2))];
    let (out, _, _) = run(OutputFormat::VotableTabledata, int_schema(), items, Some(5)).await;
    assert_eq!(statuses(&text(&out)), ["OK"]);
    assert_eq!(td_rows(&text(&out)).len(), 5);
    // An empty batch after the limit is not an overflow.
    let items = vec![Ok(ints(0, 2)), Ok(ints(0, 0))];
    let (out, _, _) = run(OutputFormat::Csv, int_schema(), items, Some(2)).await;
    assert_eq!(text(&out), "x\r\n0\r\n1\r\n");
}

#[tokio::test]
async fn maxrec_zero_is_metadata_only() {
    let (schema, batch) = mixed();
    let (out, _, _) = run(
        OutputFormat::VotableTabledata,
        schema.clone(),
        vec![Ok(batch.clone())],
        Some(0),
    )
    .await;
    let xml = text(&out);
    assert_well_formed(&xml);
    assert!(xml.contains("<FIELD name=\"pos\""));
    assert!(xml.contains("<TABLEDATA>\n</TABLEDATA>"));
    assert_eq!(statuses(&xml), ["OK", "OVERFLOW"]);
    let (out, _, _) = run(
        OutputFormat::VotableBinary2,
        schema.clone(),
        vec![Ok(batch)],
        Some(0),
    )
    .await;
    let xml = text(&out);
    assert_well_formed(&xml);
    assert!(xml.contains("<STREAM encoding=\"base64\">\n</STREAM>"));
    assert_eq!(statuses(&xml), ["OK", "OVERFLOW"]);
    // No rows at all: no overflow.
    let (out, _, _) = run(OutputFormat::VotableBinary2, schema, vec![], Some(0)).await;
    assert_eq!(statuses(&text(&out)), ["OK"]);
}

#[tokio::test]
async fn query_error_mid_stream() {
    let boom = || Err(DataFusionError::Execution("division <by> zero".into()));
    let items = vec![Ok(ints(0, 2)), boom(), Ok(ints(2, 2))];
    let (out, err, _) = run(OutputFormat::VotableTabledata, int_schema(), items, None).await;
    assert!(err.is_none(), "VOTable reports the error in-band");
    let xml = text(&out);
    assert_well_formed(&xml);
    assert_eq!(statuses(&xml), ["OK", "ERROR"]);
    assert!(xml.contains("division &lt;by&gt; zero</INFO>\n</RESOURCE>"));
    assert_eq!(td_rows(&xml).len(), 2);

    for format in [
        OutputFormat::Csv,
        OutputFormat::Tsv,
        OutputFormat::Json,
        OutputFormat::Parquet,
        OutputFormat::ArrowStream,
    ] {
        let items = vec![Ok(ints(0, 2)), boom()];
        let (out, err, _) = run(format, int_schema(), items, None).await;
        match err {
            Some(e @ FormatError::Execution(_)) => {
                assert!(e.to_string().contains("division <by> zero"));
                assert_eq!(e.kind(), ErrorKind::Resource);
            }
            other => panic!("{format:?}: {other:?}"),
        }
        if format == OutputFormat::Csv {
            assert_eq!(text(&out), "x\r\n0\r\n1\r\n");
        }
    }
}

#[tokio::test]
async fn csv_and_tsv() {
    let (schema, batch) = mixed();
    let (out, err, _) = run(
        OutputFormat::Csv,
        schema.clone(),
        vec![Ok(batch.clone())],
        None,
    )
    .await;
    assert!(err.is_none());
    let csv = text(&out);
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(lines[0], "id,ra,mag,flag,name,pos,obs,small,t");
    assert_eq!(
        csv,
        concat!(
            "id,ra,mag,flag,name,pos,obs,small,t\r\n",
            "4295806720,0.1,+Inf,true,\"a<b & \"\"c\"\", d\te\r\nf\u{1}\",1.5 -2.0,1 2 3,-7,2023-11-14T22:13:20.12\r\n",
            "-1,,1.25,false,,0.0 NaN,,,\r\n",
            "9223372036854775807,NaN,-Inf,,\"\",,,127,1970-01-01T00:00:00\r\n"
        )
    );
    let (out, _, _) = run(OutputFormat::Tsv, schema, vec![Ok(batch)], None).await;
    let tsv = text(&out);
    let lines: Vec<&str> = tsv.lines().collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[1].split('\t').nth(4),
        Some("a<b & \"c\", d e  f\u{1}")
    );
    assert_eq!(lines[2], "-1\t\t1.25\tfalse\t\t0.0 NaN\t\t\t");
}

#[tokio::test]
async fn json_gaia_layout() {
    let (schema, batch) = mixed();
    let items = vec![Ok(batch.slice(0, 2)), Ok(batch.slice(2, 1))];
    let (out, err, _) = run(OutputFormat::Json, schema.clone(), items, None).await;
    assert!(err.is_none());
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["metadata"][0]["name"], "id");
    assert_eq!(v["metadata"][0]["datatype"], "long");
    assert_eq!(v["metadata"][0]["ucd"], "meta.id;meta.main");
    assert_eq!(v["metadata"][1]["unit"], "deg");
    assert_eq!(v["metadata"][5]["arraysize"], "2");
    assert_eq!(v["metadata"][5]["xtype"], "point");
    assert_eq!(v["metadata"][8]["xtype"], "timestamp");
    assert!(v["metadata"][2]["unit"].is_null());
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(data[0][0], 4295806720i64);
    assert_eq!(data[0][1], 0.1);
    assert!(data[0][2].is_null(), "Inf is null");
    assert_eq!(data[0][3], true);
    assert_eq!(data[0][4], "a<b & \"c\", d\te\r\nf\u{1}");
    assert_eq!(data[0][5], serde_json::json!([1.5, -2.0]));
    assert_eq!(data[0][6], serde_json::json!([1, 2, 3]));
    assert_eq!(data[0][8], "2023-11-14T22:13:20.12");
    assert_eq!(data[1][5], serde_json::json!([0.0, null]));
    assert!(data[1][1].is_null() && data[1][4].is_null() && data[1][6].is_null());
    assert!(data[2][1].is_null(), "NaN is null");
    assert_eq!(data[2][4], "");
    assert_eq!(data[2][6], serde_json::json!([]));

    let (out, _, _) = run(
        OutputFormat::Json,
        int_schema(),
        vec![Ok(ints(0, 3))],
        Some(1),
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["data"], serde_json::json!([[0]]));
    assert_eq!(v["query_status"], "OVERFLOW");
    let (out, _, _) = run(OutputFormat::Json, int_schema(), vec![], None).await;
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["data"], serde_json::json!([]));
}

#[tokio::test]
async fn parquet_round_trip_with_metadata() {
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let (schema, batch) = mixed();
    let items = vec![Ok(batch.clone()), Ok(batch.clone())];
    let (out, err, _) = run(OutputFormat::Parquet, schema, items, Some(5)).await;
    assert!(err.is_none());
    let builder = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(out)).unwrap();
    let kv = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .unwrap();
    assert!(
        kv.iter()
            .any(|k| k.key == "QUERY_STATUS" && k.value.as_deref() == Some("OVERFLOW"))
    );
    let f = builder.schema().field_with_name("ra").unwrap().clone();
    assert_eq!(f.metadata().get("unit").map(String::as_str), Some("deg"));
    let batches: Vec<RecordBatch> = builder.build().unwrap().map(|b| b.unwrap()).collect();
    let n: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(n, 5);
    let ids = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(ids.value(0), 4295806720);
}

#[tokio::test]
async fn arrow_stream_round_trip() {
    use datafusion::arrow::ipc::reader::StreamReader;
    let (schema, batch) = mixed();
    let items = vec![Ok(batch.clone()), Ok(batch.clone())];
    let (out, err, _) = run(OutputFormat::ArrowStream, schema, items, None).await;
    assert!(err.is_none());
    let reader = StreamReader::try_new(std::io::Cursor::new(out), None).unwrap();
    let s = reader.schema();
    assert_eq!(
        s.field(0).metadata().get("description").map(String::as_str),
        Some("Source <id> & \"key\"")
    );
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[1].column(5).as_ref(), batch.column(5).as_ref());
}

#[tokio::test]
async fn write_stream_to_a_sink() {
    let mut sink: Vec<u8> = Vec::new();
    let w = new_writer(OutputFormat::VotableBinary2, int_schema(), vec![], vec![]).unwrap();
    let items = vec![Ok(ints(0, 10))];
    let summary = write_stream_to(w, input(int_schema(), items), Some(4), &mut sink)
        .await
        .unwrap();
    assert_eq!(summary.rows, 4);
    assert_eq!(summary.end, EndStatus::Overflow);
    assert_eq!(summary.bytes, sink.len() as u64);
    assert_well_formed(&text(&sink));

    let mut sink: Vec<u8> = Vec::new();
    let w = new_writer(OutputFormat::Csv, int_schema(), vec![], vec![]).unwrap();
    let items = vec![
        Ok(ints(0, 2)),
        Err(DataFusionError::Execution("late".into())),
    ];
    let summary = write_stream_to(w, input(int_schema(), items), None, &mut sink)
        .await
        .unwrap();
    assert_eq!(
        summary.end,
        EndStatus::Error("Execution error: late".into())
    );
    assert_eq!(text(&sink), "x\r\n0\r\n1\r\n");
}

#[tokio::test]
async fn chunks_are_coalesced_and_bounded() {
    // Many tiny batches become few chunks.
    let items: Vec<Item> = (0..2000).map(|i| Ok(ints(i, 1))).collect();
    let (_, _, sizes) = run(OutputFormat::Csv, int_schema(), items, None).await;
    assert!(sizes.len() < 10, "{sizes:?}");
    // One huge batch is cut into slices of SLICE_ROWS rows.
    let (_, _, sizes) = run(
        OutputFormat::VotableBinary2,
        int_schema(),
        vec![Ok(ints(0, 200_000))],
        None,
    )
    .await;
    assert!(sizes.len() >= 200_000 / SLICE_ROWS, "{sizes:?}");
    assert!(
        sizes.iter().all(|&s| s < SLICE_ROWS * 16 + CHUNK_BYTES),
        "{sizes:?}"
    );
}

#[tokio::test]
async fn other_string_and_integer_layouts() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("v", DataType::Utf8View, true),
        Field::new("l", DataType::LargeUtf8, true),
        Field::new("u", DataType::UInt64, true),
        Field::new("d", DataType::Date32, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringViewArray::from(vec![
                Some("a string longer than twelve"),
                None,
            ])),
            Arc::new(LargeStringArray::from(vec![None, Some("x&y")])),
            Arc::new(UInt64Array::from(vec![Some(u64::MAX), Some(7)])),
            Arc::new(Date32Array::from(vec![Some(19_782), None])),
        ],
    )
    .unwrap();
    let (out, _, _) = run(
        OutputFormat::VotableTabledata,
        schema.clone(),
        vec![Ok(batch.clone())],
        None,
    )
    .await;
    let xml = text(&out);
    assert_well_formed(&xml);
    assert!(xml.contains("<FIELD name=\"u\" datatype=\"long\"/>"));
    assert_eq!(
        td_rows(&xml),
        [
            // UInt64 above i64::MAX does not fit a VOTable long: NULL.
            vec!["a string longer than twelve", "", "", "2024-02-29"],
            vec!["", "x&y", "7", ""]
        ]
    );
    let (out, _, _) = run(OutputFormat::VotableBinary2, schema, vec![Ok(batch)], None).await;
    assert_well_formed(&text(&out));
}

#[test]
fn unsupported_types_and_bad_metadata_are_rejected() {
    let st = StructArray::from(vec![(
        Arc::new(Field::new("a", DataType::Int32, true)),
        Arc::new(Int32Array::from(vec![1])) as ArrayRef,
    )]);
    let schema = Arc::new(Schema::new(vec![Field::new(
        "s",
        st.data_type().clone(),
        true,
    )]));
    match new_writer(OutputFormat::VotableBinary2, schema.clone(), vec![], vec![]) {
        Err(e @ FormatError::UnsupportedType { .. }) => {
            assert_eq!(e.kind(), ErrorKind::User);
            assert!(e.to_string().contains("column 's'"));
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("struct accepted"),
    }
    assert!(new_writer(OutputFormat::ArrowStream, schema.clone(), vec![], vec![]).is_ok());
    assert!(new_writer(OutputFormat::Parquet, schema, vec![], vec![]).is_ok());
    let bad = new_writer(
        OutputFormat::Csv,
        int_schema(),
        vec![ColumnMeta::named("a"), ColumnMeta::named("b")],
        vec![],
    );
    assert!(matches!(bad, Err(FormatError::Internal(_))));
}

#[tokio::test]
async fn column_meta_overrides_names() {
    let cols = vec![ColumnMeta {
        name: "renamed \"x\"".into(),
        unit: Some("mas".into()),
        ..ColumnMeta::default()
    }];
    let w = new_writer(OutputFormat::VotableTabledata, int_schema(), cols, vec![]).unwrap();
    let mut s = Box::pin(encode_stream(
        w,
        input(int_schema(), vec![Ok(ints(0, 1))]),
        None,
    ));
    let mut out = Vec::new();
    while let Some(b) = s.next().await {
        out.extend_from_slice(&b.unwrap());
    }
    assert!(
        text(&out)
            .contains("<FIELD name=\"renamed &quot;x&quot;\" datatype=\"long\" unit=\"mas\"/>")
    );
}

#[test]
fn error_document_is_well_formed() {
    let doc = votable_error_document("unknown column 'paralax' <near> & so on");
    assert_well_formed(&doc);
    assert_eq!(statuses(&doc), ["ERROR"]);
    assert!(doc.contains("'paralax' &lt;near&gt; &amp; so on</INFO>"));
}

#[test]
fn list_values_survive_float64_lists() {
    // Exercises a list whose child array is not sliced with the list.
    let l = ListArray::from_iter_primitive::<Float64Type, _, _>(vec![
        Some(vec![Some(1.0)]),
        Some(vec![Some(2.0), Some(3.0)]),
    ]);
    let sliced = l.slice(1, 1);
    let schema = Arc::new(Schema::new(vec![Field::new(
        "l",
        sliced.data_type().clone(),
        true,
    )]));
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(sliced)]).unwrap();
    let mut w = new_writer(OutputFormat::VotableTabledata, schema, vec![], vec![]).unwrap();
    let mut out = Vec::new();
    w.begin(&mut out).unwrap();
    w.write_batch(&batch, &mut out).unwrap();
    w.finish(&EndStatus::Complete, &mut out).unwrap();
    assert_eq!(td_rows(&text(&out)), [vec!["2.0 3.0"]]);
}
