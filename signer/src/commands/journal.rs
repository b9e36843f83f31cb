//! `journal verify`, `journal show`.

use anyhow::Result;

use crate::home::Home;
use crate::state::State;

pub fn verify(home: &Home) -> Result<()> {
    home.require_initialized()?;
    let state = State::open(&home.state())?;
    let count = state.verify_journal()?;
    println!("Journal OK: {count} entries, hash chain intact, head matches.");
    Ok(())
}

/// Prints every entry, as lines for a person or (`json`) as one JSON array for a program.
/// Read-only: it checks nothing; `journal verify` does.
pub fn show(home: &Home, json: bool) -> Result<()> {
    home.require_initialized()?;
    let state = State::open(&home.state())?;
    let entries = state.journal_entries()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(());
    }
    for e in entries {
        println!(
            "{:>6}  {}  {:<18} {}",
            e.seq,
            crate::clock::utc_text(e.recorded_at),
            e.event,
            e.details
        );
    }
    Ok(())
}
