//! What went wrong, from the text of an error: a failed Ballista job arrives at the front end
//! as one string (Ballista formats the executor's error with `{:?}`), and a few causes need
//! their own answer whether the query ran here or on an executor.

/// The executor's own error message inside a failed Ballista job's text (`Job ID failed: Job
/// failed due to stage N failed: Task failed due to runtime execution error:
/// DataFusionError(Shared(Execution("..."))))`), with Ballista's wrapping removed.
pub fn job_failure(text: &str) -> Option<String> {
    const MARKS: [&str; 2] = [
        "Task failed due to runtime execution error: ",
        "Task failed due to IO error: ",
    ];
    let start = MARKS
        .iter()
        .find_map(|m| text.find(m).map(|i| i + m.len()))?;
    let mut rest = text[start..].trim_end();
    // Debug text of nested error enums: `Name(inner)`.
    while let Some(open) = rest.find('(') {
        let name = &rest[..open];
        if name.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric())
            || !rest.ends_with(')')
        {
            break;
        }
        rest = &rest[open + 1..rest.len() - 1];
    }
    Some(
        match rest.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            Some(quoted) => unescape(quoted),
            None => rest.to_string(),
        },
    )
}

/// The panic message in an error's text, when a task panicked: DataFusion reports a panic in
/// one of its tasks as tokio's `task N panicked with message "..."` (on a Ballista executor
/// that text arrives quoted once more, inside the job's failure), the engine's `CatchPanics` as
/// an external error `panicked: ...`. Only these exact shapes count, so that a user's string
/// that happens to contain "panicked" in an error message is not taken for a bug.
pub fn panic_in(text: &str) -> Option<String> {
    const CATCH_PANICS: &str = "External error: panicked: ";
    if let Some(message) = text.strip_prefix(CATCH_PANICS) {
        return Some(message.to_string());
    }
    // The last `task <digits> panicked` (the innermost report).
    let at = text.rmatch_indices(" panicked").find_map(|(i, m)| {
        let before = text[..i].trim_end_matches(|c: char| c.is_ascii_digit());
        (before.len() < i && before.ends_with("task ")).then_some(i + m.len())
    })?;
    let rest = text[at..].trim_start_matches(" with message").trim_start();
    let message = if let Some(quoted) = rest.strip_prefix("\\\"") {
        quoted.split("\\\"").next()
    } else if let Some(quoted) = rest.strip_prefix('"') {
        quoted.split('"').next()
    } else {
        None
    };
    Some(message.unwrap_or(rest).to_string())
}

/// Undoes `{:?}` escaping of a string.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// The answer when a catalogue file could not be found: which file, and where (the executor
/// is named by [`super::stop`] when the task ran on one).
pub fn missing_file(text: &str) -> Option<String> {
    const AT: &str = "Object at location ";
    let start = text.find(AT)? + AT.len();
    let path = text[start..].split(" not found").next()?;
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    const EXECUTOR: &str = " could not read the data: ";
    Some(match text.find(EXECUTOR) {
        Some(i) if text.starts_with("the executor at ") => format!(
            "the catalogue file {path} is missing on {}: every executor must see the \
             catalogue's files at the same path as the front end (a shared volume)",
            &text[..i]
        ),
        _ => format!(
            "the catalogue file {path} is missing (moved or deleted after the service \
             started?)"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_are_found_in_error_texts() {
        // In process (tokio's JoinError through DataFusion), CatchPanics, and a Ballista job.
        assert_eq!(
            panic_in("External error: task 12 panicked with message \"boom: x\"").as_deref(),
            Some("boom: x")
        );
        assert_eq!(
            panic_in("External error: panicked: index out of bounds").as_deref(),
            Some("index out of bounds")
        );
        let ballista = "Job 038 failed: Job failed due to stage 2 failed: Task failed due to \
             runtime execution error: DataFusionError(Shared(Execution(\"shuffle-write drain \
             task panicked: task 205 panicked with message \\\"f: failpoint reached\\\"\")))";
        assert_eq!(panic_in(ballista).as_deref(), Some("f: failpoint reached"));
        assert_eq!(panic_in("Job 1 failed: disk full"), None);
        // A user's text with the word in it is not a panic.
        assert_eq!(
            panic_in("Cast error: Cannot cast string 'it panicked: x' to value of Float64 type"),
            None
        );
        assert_eq!(panic_in("task panicked"), None);
    }

    #[test]
    fn executor_messages_are_unwrapped() {
        let text = "Job 038GQB75R2000 failed: Job failed due to stage 1 failed: Task failed due \
            to runtime execution error: DataFusionError(Execution(\"the executor at \
            127.0.0.1:18053 could not read the data: Parquet error: Failed to fetch metadata \
            for file tmp/d/part-2.parquet: Object Store error: Object at location \
            /tmp/d/part-2.parquet not found: No such file or directory (os error 2)\"))\n";
        let inner = job_failure(text).expect("a job failure");
        assert!(
            inner.starts_with("the executor at 127.0.0.1:18053 could not"),
            "{inner}"
        );
        assert!(inner.ends_with("(os error 2)"), "{inner}");
        assert_eq!(
            missing_file(&inner).as_deref(),
            Some(
                "the catalogue file /tmp/d/part-2.parquet is missing on the executor at \
                 127.0.0.1:18053: every executor must see the catalogue's files at the same \
                 path as the front end (a shared volume)"
            )
        );

        let panic = "Job 1 failed: Task failed due to runtime execution error: \
            DataFusionError(Shared(Execution(\"drain task panicked: task 5 panicked with \
            message \\\"f: boom\\\"\")))";
        assert_eq!(
            job_failure(panic).as_deref(),
            Some("drain task panicked: task 5 panicked with message \"f: boom\"")
        );
        assert_eq!(job_failure("Cast error: x"), None);
        assert_eq!(missing_file("Cast error: x"), None);
        assert_eq!(
            missing_file("Object Store error: Object at location d/x.parquet not found: gone")
                .as_deref(),
            Some(
                "the catalogue file /d/x.parquet is missing (moved or deleted after the service started?)"
            )
        );
    }
}
