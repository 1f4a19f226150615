//! Fuzzes the ADQL front end: parsing, validation, rewriting and error rendering must never
//! panic, whatever the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    match parallax_adql::parse(text) {
        Ok(query) => {
            // The rewritten statement must print.
            let _ = query.statement.to_string();
        }
        Err(e) => {
            let _ = e.render(text);
            let _ = (e.line(), e.column(), e.is_user_error());
        }
    }
});
