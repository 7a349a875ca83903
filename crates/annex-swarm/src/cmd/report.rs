//! Human and JSON renderings of engine reports, written to stdout (a closed pipe is an error
//! that `main` treats as a quiet exit).

use std::io::Write;

use anyhow::Result;
use serde::Serialize;
use swarm_core::units::ByteSize;
use swarm_engine::fsck::KeyHealth;
use swarm_engine::inventory::{KeyEntry, SwarmStatus};
use swarm_engine::repair::RepairReport;

pub fn json<T: Serialize>(out: &mut dyn Write, value: &T) -> Result<()> {
    writeln!(out, "{}", serde_json::to_string_pretty(value)?)?;
    Ok(())
}

pub fn fsck(out: &mut dyn Write, health: &[KeyHealth]) -> Result<()> {
    for h in health {
        let state = if !h.restorable {
            "LOST".to_owned()
        } else if h.spare == 0 {
            "at risk: no store may be lost".to_owned()
        } else {
            format!("ok: {} more stores may be lost", h.spare)
        };
        writeln!(
            out,
            "{}  {} chunks, {}/{} shards healthy, {} manifest copies  {state}",
            h.key, h.chunks, h.shards_healthy, h.shards_expected, h.manifest_copies
        )?;
        for p in &h.problems {
            writeln!(out, "    {p}")?;
        }
    }
    let lost = health.iter().filter(|h| !h.restorable).count();
    writeln!(
        out,
        "{} keys checked, {} restorable, {lost} lost",
        health.len(),
        health.len() - lost
    )?;
    Ok(())
}

pub fn repair(out: &mut dyn Write, reports: &[RepairReport]) -> Result<()> {
    for r in reports {
        let after = r.after.as_ref().map_or("unknown".to_owned(), |h| {
            if h.restorable {
                format!("{} spare", h.spare)
            } else {
                "LOST".into()
            }
        });
        let error = r
            .error
            .as_ref()
            .map(|e| format!("  error: {e}"))
            .unwrap_or_default();
        writeln!(
            out,
            "{}  rewrote {} shards, {} manifests; health {} -> {after}{error}",
            r.key, r.shards_rewritten, r.manifests_rewritten, r.before.spare
        )?;
    }
    Ok(())
}

/// Requests each store answered in this process (for benchmarks and tuning).
pub fn request_stats(out: &mut dyn Write, swarm: &swarm_engine::Swarm) -> Result<()> {
    for m in swarm.members().stores() {
        let kind = m.store.kind();
        let counts = m.store.requests();
        let (true, Some(c)) = (kind != "local", counts) else {
            writeln!(
                out,
                "requests: store {} ({kind}): not counted (file system calls, not requests)",
                m.id()
            )?;
            continue;
        };
        writeln!(
            out,
            "requests: store {} ({kind}): {} total; {} reads ({} done), {} writes, {} stats, {} lists, {} deletes, {} touches; {} bytes read, {} written",
            m.id(),
            c.total(),
            c.reads,
            c.reads_done,
            c.writes,
            c.stats,
            c.lists,
            c.deletes,
            c.touches,
            c.bytes_read,
            c.bytes_written
        )?;
    }
    Ok(())
}

pub fn ls(out: &mut dyn Write, keys: &[KeyEntry]) -> Result<()> {
    for k in keys {
        writeln!(out, "{}\t{}\t{}", k.key, k.size, k.chunks)?;
    }
    Ok(())
}

pub fn status(out: &mut dyn Write, s: &SwarmStatus) -> Result<()> {
    writeln!(
        out,
        "swarm {}  {}+{}  {} keys, {} bytes stored, {} bytes on stores",
        s.swarm, s.k, s.m, s.keys, s.bytes_stored, s.bytes_on_stores
    )?;
    for st in &s.stores {
        let state = match &st.problem {
            None => "up".to_owned(),
            Some(p) => format!("DOWN: {p}"),
        };
        let used = match st.quota {
            Some(q) => format!(
                "{} of quota {} ({:.0}%)",
                ByteSize(st.bytes_used),
                ByteSize(q),
                st.bytes_used as f64 * 100.0 / q.max(1) as f64
            ),
            None => format!("{} bytes", st.bytes_used),
        };
        writeln!(
            out,
            "  {:<12} {:<40} {:>8} shards {:>6} manifests  {used}  {state}",
            st.id, st.url, st.shards, st.manifests
        )?;
    }
    Ok(())
}
