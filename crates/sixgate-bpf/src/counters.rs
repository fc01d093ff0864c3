//! The fast path's counters, read from its per-CPU counter map and summed.

/// What a fast path counted since it was loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FastPathCounters {
    /// Packets the program translated (or encapsulated/decapsulated) and sent on itself.
    pub forwarded: u64,
    /// Packets handed unchanged to the userspace engine, by reason (stable snake_case names,
    /// the same vocabulary as the engines' drop reasons where one applies). The engine counts
    /// these packets again when it processes them.
    pub punted: Vec<(&'static str, u64)>,
}

impl FastPathCounters {
    /// All punted packets, whatever the reason.
    pub fn punted_total(&self) -> u64 {
        self.punted.iter().map(|(_, n)| n).sum()
    }
}
