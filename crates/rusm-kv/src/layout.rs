//! Where things live inside the redb file. The layout itself is described in
//! the crate docs ("The storage format"); this module is its only code.

use std::path::Path;

use redb::{Database, ReadableTable, TableDefinition, TableHandle};

use crate::KvError;

/// The layout version this build writes and reads.
pub(crate) const FORMAT: u64 = 1;

/// The table that marks a file as a RUSM store.
const META: TableDefinition<&str, u64> = TableDefinition::new("rusm-kv:meta");
const FORMAT_KEY: &str = "format";

/// Every bucket's table name starts with this, so that no bucket name can
/// collide with the metadata table.
const BUCKET_PREFIX: &str = "bucket:";

/// Keys are `&str` (redb orders them by their UTF-8 bytes), values raw bytes.
pub(crate) type BucketDef<'a> = TableDefinition<'a, &'static str, &'static [u8]>;

/// The name of the table that holds `bucket`.
pub(crate) fn bucket_table_name(bucket: &str) -> String {
    let mut name = String::with_capacity(BUCKET_PREFIX.len() + bucket.len());
    name.push_str(BUCKET_PREFIX);
    name.push_str(bucket);
    name
}

/// Checks that `db` is a RUSM store of our format, stamping a new (empty)
/// file with the format marker.
pub(crate) fn check_or_stamp(path: &Path, db: &Database) -> Result<(), KvError> {
    let storage = |err: redb::Error| KvError::storage(path, "read the store's format marker", err);
    let txn = db.begin_write().map_err(|e| storage(e.into()))?;
    let found = {
        let meta = txn.open_table(META).map_err(|e| storage(e.into()))?;
        let found = meta.get(FORMAT_KEY).map_err(|e| storage(e.into()))?;
        found.map(|v| v.value())
    };
    match found {
        Some(FORMAT) => Ok(()), // dropping txn aborts it: nothing to write
        Some(found) => Err(KvError::UnsupportedFormat {
            path: path.to_path_buf(),
            found,
            supported: FORMAT,
        }),
        None => {
            // No marker: either a file redb just created, or a redb database
            // some other program wrote. Only the first may become a store.
            let foreign = txn
                .list_tables()
                .map_err(|e| storage(e.into()))?
                .find(|t| t.name() != META.name());
            if let Some(table) = foreign {
                tracing::warn!(
                    path = %path.display(),
                    table = table.name(),
                    "redb file without a RUSM format marker holds a foreign table"
                );
                return Err(KvError::NotAStore {
                    path: path.to_path_buf(),
                });
            }
            {
                let mut meta = txn.open_table(META).map_err(|e| storage(e.into()))?;
                meta.insert(FORMAT_KEY, FORMAT)
                    .map_err(|e| storage(e.into()))?;
            }
            txn.commit()
                .map_err(|e| KvError::storage(path, "stamp a new store with its format", e))?;
            tracing::info!(path = %path.display(), format = FORMAT, "created a new store");
            Ok(())
        }
    }
}
