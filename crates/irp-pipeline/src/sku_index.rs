//! The stored offers of a refurbisher as an import compares a feed with them: per SKU its
//! content hash, whether it is active, and whether the feed has had it yet. Compact (about 50
//! bytes per SKU: the SKU's bytes in one arena, a 32-byte entry, a 5-byte hash-table slot), so
//! that a million offers are compared in memory instead of in the database.

use hashbrown::HashTable;
use xxhash_rust::xxh3::xxh3_64;

const STORED: u8 = 1;
const ACTIVE: u8 = 2;
const HASH_KNOWN: u8 = 4;
const SEEN: u8 = 8;

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// XXH3 of the SKU: compared before the SKU's bytes, and what the table rehashes by.
    key: u64,
    hash: u64,
    start: u32,
    len: u32,
    row: u32,
    state: u8,
}

/// How a feed row's SKU relates to the stored offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The store does not have it: insert.
    New,
    /// The store has it inactive: it comes back.
    Reactivated,
    /// The store has it active with other content (or a hash of an older form).
    Changed,
    /// The store has it active with the same content.
    Unchanged,
    /// The feed had this SKU before, at that row.
    Duplicate {
        /// Row of the first occurrence.
        first_row: u64,
    },
}

/// The index is full: its SKUs take more than 4 GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the feed's SKUs take more than 4 GiB; such a feed cannot be imported")]
pub struct IndexFull;

/// SKUs of the stored offers and of the feed read so far.
#[derive(Default)]
pub struct SkuIndex {
    skus: Vec<u8>,
    entries: Vec<Entry>,
    table: HashTable<u32>,
    active_before: u64,
    active_seen: u64,
}

impl std::fmt::Debug for SkuIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SkuIndex")
            .field("skus", &self.entries.len())
            .field("active_before", &self.active_before)
            .finish_non_exhaustive()
    }
}

impl SkuIndex {
    /// An empty index.
    pub fn new() -> SkuIndex {
        SkuIndex::default()
    }

    fn sku(&self, e: &Entry) -> &[u8] {
        &self.skus[e.start as usize..(e.start as usize + e.len as usize)]
    }

    /// An empty index with room for `n` SKUs in its table (the table is small per slot; growing
    /// it means rehashing every SKU).
    pub fn with_capacity(n: usize) -> SkuIndex {
        SkuIndex {
            table: HashTable::with_capacity(n),
            ..SkuIndex::default()
        }
    }

    fn find(&self, sku: &[u8], h: u64) -> Option<u32> {
        self.table
            .find(h, |&i| {
                let e = &self.entries[i as usize];
                e.key == h && self.sku(e) == sku
            })
            .copied()
    }

    fn push(&mut self, sku: &[u8], h: u64, entry: Entry) -> Result<(), IndexFull> {
        let start = u32::try_from(self.skus.len()).map_err(|_| IndexFull)?;
        let len = u32::try_from(sku.len()).map_err(|_| IndexFull)?;
        if u32::try_from(self.skus.len() + sku.len()).is_err() {
            return Err(IndexFull);
        }
        let id = u32::try_from(self.entries.len()).map_err(|_| IndexFull)?;
        self.skus.extend_from_slice(sku);
        self.entries.push(Entry {
            key: h,
            start,
            len,
            ..entry
        });
        let entries = &self.entries;
        self.table
            .insert_unique(h, id, |&i| entries[i as usize].key);
        Ok(())
    }

    /// Add a stored offer: its SKU, its content hash (`None` when stored in an older form),
    /// whether it is active. A SKU added twice keeps the first.
    ///
    /// # Errors
    /// The index is full.
    pub fn insert_stored(
        &mut self,
        sku: &str,
        hash: Option<u64>,
        active: bool,
    ) -> Result<(), IndexFull> {
        let h = xxh3_64(sku.as_bytes());
        if self.find(sku.as_bytes(), h).is_some() {
            return Ok(());
        }
        let mut state = STORED;
        if active {
            state |= ACTIVE;
            self.active_before += 1;
        }
        if hash.is_some() {
            state |= HASH_KNOWN;
        }
        self.push(
            sku.as_bytes(),
            h,
            Entry {
                key: 0,
                start: 0,
                len: 0,
                hash: hash.unwrap_or(0),
                row: 0,
                state,
            },
        )
    }

    /// A feed row with `sku` and content `hash` at `row`: how it relates to the stored offers
    /// and the rows before it. The SKU is remembered as seen.
    ///
    /// # Errors
    /// The index is full.
    pub fn observe(&mut self, sku: &str, hash: u64, row: u64) -> Result<Seen, IndexFull> {
        let h = xxh3_64(sku.as_bytes());
        let row32 = u32::try_from(row).unwrap_or(u32::MAX);
        match self.find(sku.as_bytes(), h) {
            Some(i) => {
                let e = &mut self.entries[i as usize];
                if e.state & SEEN != 0 {
                    return Ok(Seen::Duplicate {
                        first_row: u64::from(e.row),
                    });
                }
                e.state |= SEEN;
                e.row = row32;
                if e.state & ACTIVE == 0 {
                    return Ok(Seen::Reactivated);
                }
                self.active_seen += 1;
                Ok(if e.state & HASH_KNOWN != 0 && e.hash == hash {
                    Seen::Unchanged
                } else {
                    Seen::Changed
                })
            }
            None => {
                self.push(
                    sku.as_bytes(),
                    h,
                    Entry {
                        key: 0,
                        start: 0,
                        len: 0,
                        hash,
                        row: row32,
                        state: SEEN,
                    },
                )?;
                Ok(Seen::New)
            }
        }
    }

    /// Active stored offers before the feed.
    pub fn active_before(&self) -> u64 {
        self.active_before
    }

    /// Active stored offers the feed has not had (so far).
    pub fn removed_count(&self) -> u64 {
        self.active_before - self.active_seen
    }

    /// The SKUs of the active stored offers the feed has not had.
    pub fn removed(&self) -> impl Iterator<Item = String> + '_ {
        self.entries
            .iter()
            .filter(|e| e.state & (STORED | ACTIVE | SEEN) == STORED | ACTIVE)
            .map(|e| String::from_utf8_lossy(self.sku(e)).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feed_is_classified_against_the_stored_offers() {
        let mut ix = SkuIndex::new();
        ix.insert_stored("A", Some(1), true).unwrap();
        ix.insert_stored("B", Some(2), true).unwrap();
        ix.insert_stored("C", Some(3), false).unwrap();
        ix.insert_stored("D", None, true).unwrap();
        ix.insert_stored("E", Some(5), true).unwrap();
        assert_eq!(ix.active_before(), 4);
        assert_eq!(ix.observe("A", 1, 2).unwrap(), Seen::Unchanged);
        assert_eq!(ix.observe("B", 9, 3).unwrap(), Seen::Changed);
        assert_eq!(ix.observe("C", 3, 4).unwrap(), Seen::Reactivated);
        assert_eq!(
            ix.observe("D", 4, 5).unwrap(),
            Seen::Changed,
            "an old-form hash never matches"
        );
        assert_eq!(ix.observe("F", 6, 6).unwrap(), Seen::New);
        assert_eq!(
            ix.observe("F", 6, 9).unwrap(),
            Seen::Duplicate { first_row: 6 }
        );
        assert_eq!(
            ix.observe("A", 1, 10).unwrap(),
            Seen::Duplicate { first_row: 2 }
        );
        assert_eq!(ix.removed_count(), 1);
        assert_eq!(ix.removed().collect::<Vec<_>>(), ["E"]);
    }

    #[test]
    fn many_skus_stay_distinct() {
        let mut ix = SkuIndex::new();
        for i in 0..50_000u64 {
            ix.insert_stored(&format!("S{i}"), Some(i), i % 2 == 0)
                .unwrap();
        }
        for i in 0..100_000u64 {
            let seen = ix.observe(&format!("S{i}"), i, i).unwrap();
            let expected = match i {
                i if i >= 50_000 => Seen::New,
                i if i % 2 == 1 => Seen::Reactivated,
                _ => Seen::Unchanged,
            };
            assert_eq!(seen, expected, "S{i}");
        }
        assert_eq!(ix.removed_count(), 0);
    }
}
