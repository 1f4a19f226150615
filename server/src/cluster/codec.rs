//! Plan serialisation between the front end, the scheduler and the executors.
//!
//! Listing tables (the catalogue's Parquet), views (`crossmatch_pairs`), every built-in node
//! and every Parallax function travel through DataFusion's and Ballista's own codecs
//! (functions by name, resolved from each process's registry). The one provider they cannot
//! carry is the in-memory table: TAP_SCHEMA and TAP_UPLOAD tables are `MemTable`s, small by
//! construction (metadata; uploads capped by `[uploads] max_rows`), so this codec ships their
//! batches inside the plan as Arrow IPC.

use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::catalog::{MemTable, TableProvider};
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF, WindowUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use parallax_udfs::rand::RandFunc;

/// First byte of an encoded table provider: which codec wrote it.
const TAG_MEMORY: u8 = b'M';
const TAG_INNER: u8 = b'B';

/// What an encoded `RAND` call carries instead of nothing (functions travel by name).
const RAND_MARK: &[u8] = b"parallax:rand";

/// ADQL `RAND` keeps a generator per call site (two `RAND(7)` in one query give the same
/// sequence each). A function sent by name would resolve to the one registered instance on
/// the scheduler and on each executor, shared by every call site; so a `RAND` call is marked
/// and decodes to a fresh instance per call site.
fn encode_rand(node: &ScalarUDF, buf: &mut Vec<u8>) -> bool {
    if node.inner().downcast_ref::<RandFunc>().is_some() {
        buf.extend_from_slice(RAND_MARK);
        true
    } else {
        false
    }
}

fn decode_rand(buf: &[u8]) -> Option<Arc<ScalarUDF>> {
    (buf == RAND_MARK).then(|| Arc::new(ScalarUDF::new_from_impl(RandFunc::new())))
}

/// Ballista's physical codec plus per-call-site `RAND` (see [`encode_rand`]).
#[derive(Debug, Default)]
pub struct ParallaxPhysicalCodec {
    inner: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for ParallaxPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.try_decode(buf, inputs, ctx, proto_converter)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        self.inner.try_encode(node, buf, proto_converter)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        match decode_rand(buf) {
            Some(f) => Ok(f),
            None => self.inner.try_decode_udf(name, buf),
        }
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        if encode_rand(node, buf) {
            return Ok(());
        }
        self.inner.try_encode_udf(node, buf)
    }
}

/// Ballista's logical codec plus in-memory tables and per-call-site `RAND`.
#[derive(Debug, Default)]
pub struct ParallaxLogicalCodec {
    inner: BallistaLogicalExtensionCodec,
}

fn memory_table(buf: &[u8], schema: SchemaRef) -> Result<Arc<dyn TableProvider>> {
    let mut partitions = Vec::new();
    let mut rest = buf;
    while !rest.is_empty() {
        if rest.len() < 8 {
            return Err(DataFusionError::Internal(
                "truncated in-memory table in a serialised plan".into(),
            ));
        }
        let (len, tail) = rest.split_at(8);
        let len = u64::from_le_bytes(len.try_into().unwrap_or([0; 8]));
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if tail.len() < len {
            return Err(DataFusionError::Internal(
                "truncated in-memory table in a serialised plan".into(),
            ));
        }
        let (part, tail) = tail.split_at(len);
        let reader = StreamReader::try_new(part, None)?;
        let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
        partitions.push(batches);
        rest = tail;
    }
    if partitions.is_empty() {
        partitions.push(Vec::new());
    }
    Ok(Arc::new(MemTable::try_new(schema, partitions)?))
}

fn encode_memory_table(table: &MemTable, buf: &mut Vec<u8>) -> Result<()> {
    let schema = table.schema();
    for partition in &table.batches {
        let batches = partition.try_read().map_err(|_| {
            DataFusionError::Internal("an in-memory table is being written to".into())
        })?;
        let mut part = Vec::new();
        {
            let mut writer = StreamWriter::try_new(&mut part, &schema)?;
            for b in batches.iter() {
                writer.write(b)?;
            }
            writer.finish()?;
        }
        buf.extend_from_slice(&(part.len() as u64).to_le_bytes());
        buf.extend_from_slice(&part);
    }
    Ok(())
}

impl LogicalExtensionCodec for ParallaxLogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        match buf.split_first() {
            Some((&TAG_MEMORY, rest)) => memory_table(rest, schema),
            Some((&TAG_INNER, rest)) => self
                .inner
                .try_decode_table_provider(rest, table_ref, schema, ctx),
            _ => Err(DataFusionError::Internal(format!(
                "table {table_ref} was serialised by an unknown codec (an executor of another Parallax version?)"
            ))),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        if let Some(mem) = node.downcast_ref::<MemTable>() {
            buf.push(TAG_MEMORY);
            return encode_memory_table(mem, buf);
        }
        buf.push(TAG_INNER);
        self.inner.try_encode_table_provider(table_ref, node, buf)
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        match decode_rand(buf) {
            Some(f) => Ok(f),
            None => self.inner.try_decode_udf(name, buf),
        }
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        if encode_rand(node, buf) {
            return Ok(());
        }
        self.inner.try_encode_udf(node, buf)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        self.inner.try_decode_udaf(name, buf)
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udaf(node, buf)
    }

    fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> Result<Arc<WindowUDF>> {
        self.inner.try_decode_udwf(name, buf)
    }

    fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udwf(node, buf)
    }
}
