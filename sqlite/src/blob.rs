//! `sqlite3.Blob` (3.11+, spec §1.7): file-like access to one BLOB value.
//!
//! Each operation reopens SQLite's incremental-I/O handle on the row under the connection's
//! lock (rusqlite's blob borrows the connection), so the blob's length is fixed when opened,
//! as in Python, and writes cannot grow it.

use crate::connection::Connection;
use crate::error::{Error, ErrorKind, Result};

/// An open blob: a position and a fixed length.
#[derive(Debug)]
pub struct Blob {
    conn: Connection,
    db: String,
    table: String,
    column: String,
    row: i64,
    readonly: bool,
    len: usize,
    pos: usize,
    closed: bool,
}

impl Blob {
    pub(crate) fn open(
        conn: Connection,
        table: &str,
        column: &str,
        row: i64,
        readonly: bool,
        name: &str,
    ) -> Result<Blob> {
        let len = {
            let st = conn.lock()?;
            let b = st.db()?.blob_open(name, table, column, row, readonly)?;
            b.len()
        };
        Ok(Blob {
            conn,
            db: name.to_string(),
            table: table.to_string(),
            column: column.to_string(),
            row,
            readonly,
            len,
            pos: 0,
            closed: false,
        })
    }

    fn check(&self) -> Result<()> {
        if self.closed {
            return Err(Error::programming("Cannot operate on a closed blob."));
        }
        Ok(())
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut rusqlite::blob::Blob<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let st = self.conn.lock()?;
        let mut b = st.db()?.blob_open(
            self.db.as_str(),
            self.table.as_str(),
            self.column.as_str(),
            self.row,
            self.readonly,
        )?;
        f(&mut b).map_err(Error::from)
    }

    /// `len(blob)`.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the blob is zero bytes long.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `Blob.read(length=-1)`: up to `length` bytes (all remaining when `None`) from the
    /// current position, which advances.
    pub fn read(&mut self, length: Option<usize>) -> Result<Vec<u8>> {
        self.check()?;
        let n = length.unwrap_or(usize::MAX).min(self.len - self.pos);
        let mut buf = vec![0u8; n];
        let pos = self.pos;
        self.with(|b| b.read_at_exact(&mut buf, pos))?;
        self.pos += n;
        Ok(buf)
    }

    /// `Blob.write(data)`: writes at the position; `ValueError: data longer than blob
    /// length` when it would pass the end.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.check()?;
        if data.len() > self.len - self.pos {
            return Err(Error::value("data longer than blob length"));
        }
        let pos = self.pos;
        self.with(|b| b.write_at(data, pos))?;
        self.pos += data.len();
        Ok(())
    }

    /// `Blob.seek(offset, origin=os.SEEK_SET)`; origin 0, 1 or 2. Outside the blob:
    /// `ValueError: offset out of blob range`.
    pub fn seek(&mut self, offset: i64, origin: i32) -> Result<()> {
        self.check()?;
        let base = match origin {
            0 => 0i64,
            1 => self.pos as i64,
            2 => self.len as i64,
            _ => {
                return Err(Error::value(
                    "'origin' should be os.SEEK_SET, os.SEEK_CUR, or os.SEEK_END",
                ))
            }
        };
        let to = base
            .checked_add(offset)
            .filter(|t| (0..=self.len as i64).contains(t))
            .ok_or_else(|| Error::value("offset out of blob range"))?;
        self.pos = to as usize;
        Ok(())
    }

    /// `Blob.tell()`.
    pub fn tell(&self) -> Result<usize> {
        self.check()?;
        Ok(self.pos)
    }

    /// `blob[i]`: the byte at `i` (negative from the end) as an int.
    pub fn get(&self, i: isize) -> Result<u8> {
        self.check()?;
        let j = if i < 0 { i + self.len as isize } else { i };
        if j < 0 || j as usize >= self.len {
            return Err(Error::new(ErrorKind::IndexError, "Blob index out of range"));
        }
        let mut one = [0u8];
        self.with(|b| b.read_at_exact(&mut one, j as usize))?;
        Ok(one[0])
    }

    /// `blob[start:stop] = data`: the slice must keep its size
    /// (`IndexError: Blob slice assignment is wrong size`).
    pub fn set_slice(&mut self, start: usize, stop: usize, data: &[u8]) -> Result<()> {
        self.check()?;
        let stop = stop.min(self.len);
        let start = start.min(stop);
        if data.len() != stop - start {
            return Err(Error::new(
                ErrorKind::IndexError,
                "Blob slice assignment is wrong size",
            ));
        }
        self.with(|b| b.write_at(data, start))
    }

    /// `Blob.close()`; later use fails with "Cannot operate on a closed blob.".
    pub fn close(&mut self) {
        self.closed = true;
    }
}
