//! Saved artifacts (`artifacts`): every compile's artifact, the latest per name.

use rusqlite::{params, OptionalExtension};

use super::Store;
use crate::error::Result;

/// A saved artifact (`artifacts`): compiled frontiers and other named JSON documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRow {
    /// The artifact's name; several versions may share it.
    pub name: String,
    /// When it was made, Unix seconds, given by the caller.
    pub created_at_unix_s: i64,
    /// The document, serialised by the caller.
    pub json: String,
}

impl Store {
    /// Saves an artifact version.
    pub fn save_artifact(&self, row: &ArtifactRow) -> Result<()> {
        self.write("save an artifact", |tx| {
            tx.execute(
                "INSERT INTO artifacts (name, created_at_unix_s, json) VALUES (?1, ?2, ?3)",
                params![row.name, row.created_at_unix_s, row.json],
            )
            .map(drop)
        })
    }

    /// The newest artifact named `name` (latest time; among equal times, the last saved).
    pub fn latest_artifact(&self, name: &str) -> Result<Option<ArtifactRow>> {
        self.conn
            .query_row(
                "SELECT name, created_at_unix_s, json FROM artifacts WHERE name = ?1 \
                 ORDER BY created_at_unix_s DESC, id DESC LIMIT 1",
                [name],
                |row| {
                    Ok(ArtifactRow {
                        name: row.get(0)?,
                        created_at_unix_s: row.get(1)?,
                        json: row.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err("read the latest artifact", e))
    }
}
