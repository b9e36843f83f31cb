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

pub fn show(home: &Home) -> Result<()> {
    home.require_initialized()?;
    let state = State::open(&home.state())?;
    for e in state.journal_entries()? {
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
