//! UWS 1.1 execution phases (§2.1.3) and the one table of legal transitions.

use std::fmt;

/// A job's execution phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Accepting parameters; not yet asked to run.
    Pending,
    /// Waiting for a free executor.
    Queued,
    /// Running.
    Executing,
    /// Finished with a result.
    Completed,
    /// Failed; the error document says why.
    Error,
    /// Stopped by the client, by its execution duration, or never run.
    Aborted,
    /// Unknown to the service (never stored; part of the standard vocabulary).
    Unknown,
    /// Held (not used by this service).
    Held,
    /// Suspended (not used by this service).
    Suspended,
    /// Archived (not used by this service).
    Archived,
}

/// Something that changes a job's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// `PHASE=RUN`: the job joins the queue.
    Run,
    /// An executor takes the job.
    Start,
    /// The result is stored.
    Finish,
    /// The query failed (or could not start).
    Fail,
    /// `PHASE=ABORT`, or the execution duration ran out.
    Abort,
    /// After a restart: a job that was queued or executing is queued again.
    Requeue,
}

impl Phase {
    /// Every phase, in the order of UWS §2.1.3.
    pub const ALL: [Phase; 10] = [
        Phase::Pending,
        Phase::Queued,
        Phase::Executing,
        Phase::Completed,
        Phase::Error,
        Phase::Aborted,
        Phase::Unknown,
        Phase::Held,
        Phase::Suspended,
        Phase::Archived,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "PENDING",
            Phase::Queued => "QUEUED",
            Phase::Executing => "EXECUTING",
            Phase::Completed => "COMPLETED",
            Phase::Error => "ERROR",
            Phase::Aborted => "ABORTED",
            Phase::Unknown => "UNKNOWN",
            Phase::Held => "HELD",
            Phase::Suspended => "SUSPENDED",
            Phase::Archived => "ARCHIVED",
        }
    }

    /// Parses a wire name (case-insensitive).
    pub fn parse(s: &str) -> Option<Phase> {
        Phase::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// True while the job may still change on its own (a blocking WAIT waits in these).
    pub fn is_active(self) -> bool {
        matches!(self, Phase::Pending | Phase::Queued | Phase::Executing)
    }

    /// The phase after `event`, or `None` when the transition is illegal.
    ///
    /// This is the only place that says which transitions exist (UWS 1.1 §2.1.3, Fig. 1).
    pub fn after(self, event: Event) -> Option<Phase> {
        use Event as E;
        use Phase as P;
        match (self, event) {
            (P::Pending, E::Run) => Some(P::Queued),
            (P::Queued, E::Start) => Some(P::Executing),
            (P::Executing, E::Finish) => Some(P::Completed),
            (P::Queued | P::Executing, E::Fail) => Some(P::Error),
            (P::Pending | P::Queued | P::Executing, E::Abort) => Some(P::Aborted),
            (P::Queued | P::Executing, E::Requeue) => Some(P::Queued),
            _ => None,
        }
    }

    /// The phases from which `event` is legal.
    pub fn sources(event: Event) -> Vec<Phase> {
        Phase::ALL
            .into_iter()
            .filter(|p| p.after(event).is_some())
            .collect()
    }

    /// True when parameters may still be changed (UWS §2.2.3: only before the job runs).
    pub fn accepts_parameters(self) -> bool {
        self == Phase::Pending
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_only_from_pending() {
        assert_eq!(Phase::Pending.after(Event::Run), Some(Phase::Queued));
        for p in Phase::ALL {
            if p != Phase::Pending {
                assert_eq!(p.after(Event::Run), None, "{p}");
            }
        }
    }

    #[test]
    fn final_phases_are_final() {
        for p in [Phase::Completed, Phase::Error, Phase::Aborted] {
            for e in [
                Event::Run,
                Event::Start,
                Event::Finish,
                Event::Fail,
                Event::Abort,
                Event::Requeue,
            ] {
                assert_eq!(p.after(e), None, "{p} {e:?}");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for p in Phase::ALL {
            assert_eq!(Phase::parse(p.as_str()), Some(p));
        }
        assert_eq!(Phase::parse("run"), None);
        assert_eq!(Phase::parse("queued"), Some(Phase::Queued));
    }
}
