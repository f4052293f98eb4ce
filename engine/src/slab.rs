//! [`Slab`]: values in numbered slots that keep their numbers while they live, with freed
//! slots reused most recently freed first. The caches keep their entries in one (the page
//! cache, gdbm's bucket cache, sqlite's statement cache) and index them from hash maps
//! and side arrays by slot number. The reuse order is fixed, so a run that is replayed
//! (the crash tests replay runs event by event) fills the same slots.

/// Numbered slots holding values of `T` (see the module docs).
#[derive(Debug, Clone)]
pub struct Slab<T> {
    slots: Vec<Option<T>>,
    free: Vec<usize>,
}

impl<T> Default for Slab<T> {
    fn default() -> Slab<T> {
        Slab::new()
    }
}

impl<T> Slab<T> {
    /// An empty slab.
    pub fn new() -> Slab<T> {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    /// Stores `value` in the most recently freed slot, or a new one at the end; returns
    /// the slot's number.
    pub fn insert(&mut self, value: T) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(value);
                i
            }
            None => {
                self.slots.push(Some(value));
                self.slots.len() - 1
            }
        }
    }

    /// Takes the value out of slot `i` and frees the slot; `None` (and nothing freed) if the
    /// slot is empty or out of range.
    pub fn remove(&mut self, i: usize) -> Option<T> {
        let v = self.slots.get_mut(i)?.take()?;
        self.free.push(i);
        Some(v)
    }

    /// The value in slot `i`, if any.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&T> {
        self.slots.get(i)?.as_ref()
    }

    /// The value in slot `i`, mutably, if any.
    #[inline]
    pub fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.slots.get_mut(i)?.as_mut()
    }

    /// Number of slots, occupied or free (every slot number is below it).
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The occupied slots' numbers and values, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &T)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|v| (i, v)))
    }

    /// Empties the slab (slot numbers start again from 0).
    pub fn clear(&mut self) {
        self.slots.clear();
        self.free.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_slots_are_reused_most_recent_first() {
        let mut s = Slab::new();
        assert_eq!((s.insert('a'), s.insert('b'), s.insert('c')), (0, 1, 2));
        assert_eq!(s.remove(0), Some('a'));
        assert_eq!(s.remove(2), Some('c'));
        assert_eq!(s.remove(2), None, "an empty slot is not freed twice");
        assert_eq!(s.remove(9), None);
        assert_eq!(s.insert('d'), 2);
        assert_eq!(s.insert('e'), 0);
        assert_eq!(s.insert('f'), 3);
        assert_eq!(s.get(1), Some(&'b'));
        *s.get_mut(1).unwrap() = 'B';
        let all: Vec<(usize, char)> = s.iter().map(|(i, &c)| (i, c)).collect();
        assert_eq!(all, vec![(0, 'e'), (1, 'B'), (2, 'd'), (3, 'f')]);
        assert_eq!(s.slot_count(), 4);
        s.clear();
        assert_eq!((s.slot_count(), s.get(0)), (0, None));
        assert_eq!(s.insert('g'), 0);
    }
}
