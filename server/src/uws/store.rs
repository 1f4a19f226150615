//! The durable job store: SQLite in WAL mode (one file, `jobs.db`, in the jobs directory).
//!
//! Every phase change is one `UPDATE … WHERE phase IN (legal sources)`, so concurrent
//! changes (an ABORT racing the runner's COMPLETE) resolve in the database and the loser sees
//! the phase that won. With WAL and `synchronous=NORMAL` a committed change survives a
//! crash of the process (kill -9); only an operating-system crash can lose the last commits.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use super::phase::{Event, Phase};

/// Errors of the job store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed (internal).
    #[error("job database: {0}")]
    Db(#[from] rusqlite::Error),
    /// A stored row could not be decoded (internal).
    #[error("job database holds a malformed row: {0}")]
    Corrupt(String),
}

/// The stored result of a completed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultInfo {
    /// MIME type to serve it with.
    pub content_type: String,
    /// Data rows.
    pub rows: u64,
    /// File size.
    pub bytes: u64,
}

/// One job, as stored.
#[derive(Debug, Clone)]
pub struct Job {
    /// Job id (URL segment).
    pub id: String,
    /// Owner; `None` for anonymous jobs.
    pub owner: Option<String>,
    /// The client's RUNID.
    pub run_id: Option<String>,
    /// Phase.
    pub phase: Phase,
    /// Creation time (Unix seconds).
    pub creation: i64,
    /// Start time.
    pub start: Option<i64>,
    /// End time.
    pub end: Option<i64>,
    /// Execution duration in seconds.
    pub execution_duration: u64,
    /// Destruction time (Unix seconds).
    pub destruction: i64,
    /// TAP parameters, names lower-case, in arrival order.
    pub parameters: Vec<(String, String)>,
    /// Names of inline upload parts stored with the job.
    pub upload_parts: Vec<String>,
    /// Error message (ERROR, or why an ABORT happened).
    pub error: Option<String>,
    /// Result, when COMPLETED.
    pub result: Option<ResultInfo>,
}

/// A job-list entry (UWS ShortJobDescription).
#[derive(Debug, Clone)]
pub struct JobRef {
    /// Job id.
    pub id: String,
    /// Phase.
    pub phase: Phase,
    /// RUNID.
    pub run_id: Option<String>,
    /// Owner.
    pub owner: Option<String>,
    /// Creation time.
    pub creation: i64,
}

/// Filters of the job list (UWS 1.1 §2.2.2.1).
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only these phases (empty: all but ARCHIVED).
    pub phases: Vec<Phase>,
    /// Only jobs created after this time.
    pub after: Option<i64>,
    /// Only the most recent N (by creation time).
    pub last: Option<u64>,
}

/// Extra columns set together with a phase change.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// Start time.
    pub start: Option<i64>,
    /// End time.
    pub end: Option<i64>,
    /// Error message.
    pub error: Option<String>,
    /// Result.
    pub result: Option<ResultInfo>,
    /// Clear start/end/error/result (re-queue).
    pub reset: bool,
}

/// Why a phase change did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// No such job.
    NotFound,
    /// The job is in this phase, from which the event is illegal.
    Illegal(Phase),
}

/// The SQLite job store.
pub struct Store {
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    owner TEXT,
    run_id TEXT,
    phase TEXT NOT NULL,
    creation INTEGER NOT NULL,
    start INTEGER,
    end_time INTEGER,
    execution_duration INTEGER NOT NULL,
    destruction INTEGER NOT NULL,
    parameters TEXT NOT NULL,
    upload_parts TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    result_type TEXT,
    result_rows INTEGER,
    result_bytes INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs(owner, creation);
CREATE INDEX IF NOT EXISTS jobs_phase ON jobs(phase);
CREATE INDEX IF NOT EXISTS jobs_destruction ON jobs(destruction);
";

const COLUMNS: &str = "id, owner, run_id, phase, creation, start, end_time, execution_duration, \
                       destruction, parameters, upload_parts, error, result_type, result_rows, \
                       result_bytes";

impl Store {
    /// Opens (creating if needed) `dir/jobs.db`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(dir.join("jobs.db"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (each statement is atomic).
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stores a new job.
    pub fn insert(&self, job: &Job) -> Result<(), StoreError> {
        let params_json = encode_pairs(&job.parameters);
        let parts = encode_list(&job.upload_parts);
        self.conn().execute(
            "INSERT INTO jobs (id, owner, run_id, phase, creation, execution_duration, \
             destruction, parameters, upload_parts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                job.id,
                job.owner,
                job.run_id,
                job.phase.as_str(),
                job.creation,
                job.execution_duration as i64,
                job.destruction,
                params_json,
                parts
            ],
        )?;
        Ok(())
    }

    /// One job.
    pub fn get(&self, id: &str) -> Result<Option<Job>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"))?;
        let row = stmt
            .query_row(params![id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                    r.get::<_, Option<i64>>(6)?,
                    r.get::<_, i64>(7)?,
                    r.get::<_, i64>(8)?,
                    r.get::<_, String>(9)?,
                    r.get::<_, String>(10)?,
                    r.get::<_, Option<String>>(11)?,
                    (
                        r.get::<_, Option<String>>(12)?,
                        r.get::<_, Option<i64>>(13)?,
                        r.get::<_, Option<i64>>(14)?,
                    ),
                ))
            })
            .optional()?;
        let Some((
            id,
            owner,
            run_id,
            phase,
            creation,
            start,
            end,
            duration,
            destruction,
            params_json,
            parts,
            error,
            (rtype, rrows, rbytes),
        )) = row
        else {
            return Ok(None);
        };
        let phase = Phase::parse(&phase).ok_or_else(|| StoreError::Corrupt(phase.clone()))?;
        let result = match (rtype, rrows, rbytes) {
            (Some(content_type), Some(rows), Some(bytes)) => Some(ResultInfo {
                content_type,
                rows: rows as u64,
                bytes: bytes as u64,
            }),
            _ => None,
        };
        Ok(Some(Job {
            id,
            owner,
            run_id,
            phase,
            creation,
            start,
            end,
            execution_duration: duration.max(0) as u64,
            destruction,
            parameters: decode_pairs(&params_json)?,
            upload_parts: decode_list(&parts)?,
            error,
            result,
        }))
    }

    /// Jobs per phase, all owners (for `/metrics`).
    pub fn phase_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT phase, COUNT(*) FROM jobs GROUP BY phase ORDER BY phase")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (phase, n) = row?;
            out.push((phase, n.max(0) as u64));
        }
        Ok(out)
    }

    /// The job list of one owner (`None`: the anonymous jobs).
    pub fn list(&self, owner: Option<&str>, f: &ListFilter) -> Result<Vec<JobRef>, StoreError> {
        let mut sql = String::from(
            "SELECT id, phase, run_id, owner, creation FROM jobs WHERE owner IS ?1 AND creation > ?2",
        );
        if f.phases.is_empty() {
            sql.push_str(" AND phase <> 'ARCHIVED'");
        } else {
            let list: Vec<String> = f
                .phases
                .iter()
                .map(|p| format!("'{}'", p.as_str()))
                .collect();
            sql.push_str(&format!(" AND phase IN ({})", list.join(",")));
        }
        sql.push_str(" ORDER BY creation DESC, seq DESC");
        if let Some(n) = f.last {
            sql.push_str(&format!(" LIMIT {}", n.min(i64::MAX as u64)));
        }
        let conn = self.conn();
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(params![owner, f.after.unwrap_or(i64::MIN)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, phase, run_id, owner, creation) = row?;
            let phase = Phase::parse(&phase).ok_or_else(|| StoreError::Corrupt(phase.clone()))?;
            out.push(JobRef {
                id,
                phase,
                run_id,
                owner,
                creation,
            });
        }
        Ok(out)
    }

    /// Applies `event` to job `id` if legal from its current phase, with the extra columns
    /// of `change`. Returns the new phase.
    pub fn transition(
        &self,
        id: &str,
        event: Event,
        change: &Change,
    ) -> Result<Result<Phase, Refused>, StoreError> {
        let sources = Phase::sources(event);
        let Some(target) = sources.first().and_then(|p| p.after(event)) else {
            return Ok(Err(Refused::NotFound));
        };
        let list: Vec<String> = sources
            .iter()
            .map(|p| format!("'{}'", p.as_str()))
            .collect();
        let (rtype, rrows, rbytes) = match &change.result {
            Some(r) => (
                Some(r.content_type.clone()),
                Some(r.rows as i64),
                Some(r.bytes as i64),
            ),
            None => (None, None, None),
        };
        let sql = if change.reset {
            format!(
                "UPDATE jobs SET phase = ?1, start = NULL, end_time = NULL, error = NULL, \
                 result_type = NULL, result_rows = NULL, result_bytes = NULL \
                 WHERE id = ?2 AND phase IN ({})",
                list.join(",")
            )
        } else {
            format!(
                "UPDATE jobs SET phase = ?1, start = COALESCE(?3, start), \
                 end_time = COALESCE(?4, end_time), error = COALESCE(?5, error), \
                 result_type = COALESCE(?6, result_type), result_rows = COALESCE(?7, result_rows), \
                 result_bytes = COALESCE(?8, result_bytes) WHERE id = ?2 AND phase IN ({})",
                list.join(",")
            )
        };
        let conn = self.conn();
        let n = if change.reset {
            conn.execute(&sql, params![target.as_str(), id])?
        } else {
            conn.execute(
                &sql,
                params![
                    target.as_str(),
                    id,
                    change.start,
                    change.end,
                    change.error,
                    rtype,
                    rrows,
                    rbytes
                ],
            )?
        };
        if n == 1 {
            return Ok(Ok(target));
        }
        let current: Option<String> = conn
            .query_row("SELECT phase FROM jobs WHERE id = ?1", params![id], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(Err(match current.as_deref().and_then(Phase::parse) {
            Some(p) => Refused::Illegal(p),
            None => Refused::NotFound,
        }))
    }

    /// Replaces the parameters (and RUNID) of a PENDING job. `Ok(false)` when the job is no
    /// longer PENDING.
    pub fn set_parameters(
        &self,
        id: &str,
        parameters: &[(String, String)],
        upload_parts: &[String],
        run_id: Option<&str>,
    ) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE jobs SET parameters = ?2, upload_parts = ?3, run_id = ?4 \
             WHERE id = ?1 AND phase = 'PENDING'",
            params![
                id,
                encode_pairs(parameters),
                encode_list(upload_parts),
                run_id
            ],
        )?;
        Ok(n == 1)
    }

    /// Sets the destruction time.
    pub fn set_destruction(&self, id: &str, t: i64) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE jobs SET destruction = ?2 WHERE id = ?1",
            params![id, t],
        )?;
        Ok(n == 1)
    }

    /// Sets the execution duration (PENDING or QUEUED jobs only: a running job keeps the
    /// duration it started with). `Ok(false)` when the job is in another phase.
    pub fn set_execution_duration(&self, id: &str, secs: u64) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE jobs SET execution_duration = ?2 WHERE id = ?1 \
             AND phase IN ('PENDING', 'QUEUED')",
            params![id, secs as i64],
        )?;
        Ok(n == 1)
    }

    /// Removes a job row. `Ok(false)` when there was none.
    pub fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute("DELETE FROM jobs WHERE id = ?1", params![id])?;
        Ok(n == 1)
    }

    /// Ids of jobs whose destruction time has passed.
    pub fn expired(&self, now: i64) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT id FROM jobs WHERE destruction <= ?1")?;
        let rows = stmt.query_map(params![now], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Ids of jobs in `phase`, oldest first.
    pub fn in_phase(&self, phase: Phase) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT id FROM jobs WHERE phase = ?1 ORDER BY seq")?;
        let rows = stmt.query_map(params![phase.as_str()], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// All job ids (for removing orphaned files).
    pub fn all_ids(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT id FROM jobs")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Jobs of `owner` that are QUEUED or EXECUTING.
    pub fn active_count(&self, owner: Option<&str>) -> Result<u64, StoreError> {
        let n: i64 = self.conn().query_row(
            "SELECT COUNT(*) FROM jobs WHERE owner IS ?1 AND phase IN ('QUEUED', 'EXECUTING')",
            params![owner],
            |r| r.get(0),
        )?;
        Ok(n.max(0) as u64)
    }

    /// Bytes of results `owner` holds.
    pub fn result_bytes(&self, owner: Option<&str>) -> Result<u64, StoreError> {
        let n: i64 = self.conn().query_row(
            "SELECT COALESCE(SUM(result_bytes), 0) FROM jobs WHERE owner IS ?1",
            params![owner],
            |r| r.get(0),
        )?;
        Ok(n.max(0) as u64)
    }
}

fn encode_pairs(p: &[(String, String)]) -> String {
    serde_json::to_string(p).unwrap_or_else(|_| "[]".into())
}

fn decode_pairs(s: &str) -> Result<Vec<(String, String)>, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn encode_list(p: &[String]) -> String {
    serde_json::to_string(p).unwrap_or_else(|_| "[]".into())
}

fn decode_list(s: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, owner: Option<&str>, creation: i64) -> Job {
        Job {
            id: id.into(),
            owner: owner.map(String::from),
            run_id: None,
            phase: Phase::Pending,
            creation,
            start: None,
            end: None,
            execution_duration: 60,
            destruction: creation + 100,
            parameters: vec![("query".into(), "SELECT 1".into())],
            upload_parts: vec![],
            error: None,
            result: None,
        }
    }

    #[test]
    fn transitions_are_checked_in_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.insert(&job("a", None, 10)).unwrap();
        let c = Change::default();
        assert_eq!(
            s.transition("a", Event::Start, &c).unwrap(),
            Err(Refused::Illegal(Phase::Pending))
        );
        assert_eq!(
            s.transition("a", Event::Run, &c).unwrap(),
            Ok(Phase::Queued)
        );
        assert_eq!(
            s.transition("a", Event::Start, &c).unwrap(),
            Ok(Phase::Executing)
        );
        let done = Change {
            end: Some(20),
            result: Some(ResultInfo {
                content_type: "text/csv".into(),
                rows: 3,
                bytes: 10,
            }),
            ..Default::default()
        };
        assert_eq!(
            s.transition("a", Event::Finish, &done).unwrap(),
            Ok(Phase::Completed)
        );
        assert_eq!(
            s.transition("a", Event::Abort, &c).unwrap(),
            Err(Refused::Illegal(Phase::Completed))
        );
        assert_eq!(
            s.transition("zz", Event::Abort, &c).unwrap(),
            Err(Refused::NotFound)
        );
        let j = s.get("a").unwrap().unwrap();
        assert_eq!(j.result.unwrap().rows, 3);
        assert_eq!(j.end, Some(20));
    }

    #[test]
    fn list_filters_by_owner_phase_after_last() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        for i in 0..5 {
            s.insert(&job(&format!("j{i}"), Some("alice"), 100 + i))
                .unwrap();
        }
        s.insert(&job("anon", None, 100)).unwrap();
        s.transition("j1", Event::Run, &Change::default())
            .unwrap()
            .unwrap();
        let all = s.list(Some("alice"), &ListFilter::default()).unwrap();
        assert_eq!(all.len(), 5);
        assert_eq!(all[0].id, "j4");
        assert_eq!(s.list(None, &ListFilter::default()).unwrap().len(), 1);
        let queued = ListFilter {
            phases: vec![Phase::Queued],
            ..Default::default()
        };
        assert_eq!(s.list(Some("alice"), &queued).unwrap().len(), 1);
        let after = ListFilter {
            after: Some(102),
            ..Default::default()
        };
        assert_eq!(s.list(Some("alice"), &after).unwrap().len(), 2);
        let last = ListFilter {
            last: Some(2),
            ..Default::default()
        };
        let l = s.list(Some("alice"), &last).unwrap();
        assert_eq!(
            l.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
            ["j4", "j3"]
        );
    }

    #[test]
    fn per_owner_counts() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        for (id, owner) in [("a", Some("alice")), ("b", Some("alice")), ("c", None)] {
            s.insert(&job(id, owner, 1)).unwrap();
        }
        let c = Change::default();
        s.transition("a", Event::Run, &c).unwrap().unwrap();
        s.transition("b", Event::Run, &c).unwrap().unwrap();
        s.transition("b", Event::Start, &c).unwrap().unwrap();
        assert_eq!(s.active_count(Some("alice")).unwrap(), 2);
        assert_eq!(s.active_count(None).unwrap(), 0);
        let done = Change {
            result: Some(ResultInfo {
                content_type: "text/csv".into(),
                rows: 1,
                bytes: 1234,
            }),
            ..Default::default()
        };
        s.transition("b", Event::Finish, &done).unwrap().unwrap();
        assert_eq!(s.active_count(Some("alice")).unwrap(), 1);
        assert_eq!(s.result_bytes(Some("alice")).unwrap(), 1234);
        assert_eq!(s.result_bytes(None).unwrap(), 0);
    }

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path()).unwrap();
            s.insert(&job("x", None, 1)).unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        assert!(s.get("x").unwrap().is_some());
    }
}
