//! Failure injection for the tests of error paths that no correct input reaches.
//!
//! With the environment variable `PARALLAX_TEST_FAILPOINTS=1` when a process starts (front
//! end, scheduler or executor), [`crate::engine::register_parallax`] also registers
//! `parallax_test_panic(x)`, a function that panics inside its kernel: how a bug in a
//! function behaves in process and on a Ballista executor. Without the variable the function
//! does not exist.

use std::sync::LazyLock;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::prelude::SessionContext;

/// The environment variable that enables the failpoints.
pub const ENV: &str = "PARALLAX_TEST_FAILPOINTS";

/// The panic message of `parallax_test_panic`.
pub const PANIC_MESSAGE: &str = "parallax_test_panic: failpoint reached";

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "Panics when it is evaluated on a batch with at least one row (a test failpoint, only \
         registered when PARALLAX_TEST_FAILPOINTS=1).",
        "parallax_test_panic(x)",
    )
    .with_standard_argument("x", Some("Numeric"))
    .build()
});

/// `parallax_test_panic(x)`: panics on any non-empty batch.
#[derive(Debug, PartialEq, Eq, Hash)]
struct TestPanicFunc {
    signature: Signature,
}

impl ScalarUDFImpl for TestPanicFunc {
    fn name(&self) -> &str {
        "parallax_test_panic"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if args.number_rows > 0 {
            panic!("{PANIC_MESSAGE}");
        }
        Ok(args.args[0].clone())
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

/// Whether the failpoints are enabled in this process.
pub fn enabled() -> bool {
    std::env::var_os(ENV).is_some_and(|v| v == "1")
}

/// Registers the failpoint functions in `ctx` when [`enabled`].
pub fn register(ctx: &SessionContext) {
    if enabled() {
        ctx.register_udf(ScalarUDF::new_from_impl(TestPanicFunc {
            signature: Signature::exact(vec![DataType::Float64], Volatility::Volatile),
        }));
    }
}
