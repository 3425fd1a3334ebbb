//! One page of a long list, as the operator's lists return it: the
//! results and how many there are in all — exact up to
//! [`EXACT_COUNT_LIMIT`], an estimate beyond, so turning a page never has
//! to count a million rows.

/// Lists count exactly up to this many matches; beyond, they estimate.
pub const EXACT_COUNT_LIMIT: u64 = 10_000;

/// Page sizes an operator may ask for.
pub const PAGE_SIZES: std::ops::RangeInclusive<u32> = 1..=100;

/// The page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: u32 = 25;

/// Which rows of a list: `limit` of them after skipping `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Rows skipped.
    pub offset: u64,
    /// Rows returned at most.
    pub limit: u32,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self { offset: 0, limit: DEFAULT_PAGE_SIZE }
    }
}

impl PageRequest {
    /// Page `page` (from 1) of `size` rows; `None` when either is out of
    /// range (the size outside [`PAGE_SIZES`], the offset beyond `i64`).
    pub fn numbered(page: u64, size: u32) -> Option<Self> {
        if page == 0 || !PAGE_SIZES.contains(&size) {
            return None;
        }
        let offset = (page - 1).checked_mul(u64::from(size)).filter(|o| i64::try_from(*o).is_ok())?;
        Some(Self { offset, limit: size })
    }

    /// The rows of `all` this page covers (for stores that list in memory).
    pub fn slice<T: Clone>(&self, all: &[T]) -> Vec<T> {
        let start = usize::try_from(self.offset).unwrap_or(usize::MAX).min(all.len());
        all[start..].iter().take(self.limit as usize).cloned().collect()
    }

    /// The offset as SQL binds it.
    pub fn offset_i64(&self) -> i64 {
        i64::try_from(self.offset).unwrap_or(i64::MAX)
    }
}

/// One page and the size of the whole list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// How many rows match in all; an estimate when `count_is_estimate`.
    pub count: u64,
    /// `count` is an estimate: there are more than [`EXACT_COUNT_LIMIT`].
    pub count_is_estimate: bool,
    /// This page's rows.
    pub results: Vec<T>,
}

impl<T> Page<T> {
    /// A page whose total was counted up to `EXACT_COUNT_LIMIT + 1`:
    /// exact below, else `estimate()` (never less than the limit).
    pub fn counted(capped: u64, results: Vec<T>, estimate: impl FnOnce() -> u64) -> Self {
        if capped > EXACT_COUNT_LIMIT {
            Self { count: estimate().max(EXACT_COUNT_LIMIT + 1), count_is_estimate: true, results }
        } else {
            Self { count: capped, count_is_estimate: false, results }
        }
    }

    /// The same page with each row mapped.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            count: self.count,
            count_is_estimate: self.count_is_estimate,
            results: self.results.into_iter().map(f).collect(),
        }
    }
}

/// Scales a count seen in a sample of `sample` rows to `total` rows.
pub fn scale_estimate(matched_in_sample: u64, sample: u64, total: u64) -> u64 {
    if sample == 0 {
        return total;
    }
    let scaled = u128::from(matched_in_sample) * u128::from(total) / u128::from(sample);
    u64::try_from(scaled).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_numbered_from_one_and_sizes_bounded() {
        assert_eq!(PageRequest::numbered(1, 25), Some(PageRequest { offset: 0, limit: 25 }));
        assert_eq!(PageRequest::numbered(3, 10), Some(PageRequest { offset: 20, limit: 10 }));
        assert_eq!(PageRequest::numbered(0, 25), None);
        assert_eq!(PageRequest::numbered(1, 0), None);
        assert_eq!(PageRequest::numbered(1, 101), None);
        assert_eq!(PageRequest::numbered(u64::MAX, 100), None, "an offset past i64 is refused, not wrapped");
    }

    #[test]
    fn counts_are_exact_up_to_the_limit_and_estimates_beyond() {
        let p = Page::counted(10_000, vec![1], || unreachable!());
        assert_eq!((p.count, p.count_is_estimate), (10_000, false));
        let p = Page::counted(10_001, vec![1], || 5);
        assert_eq!((p.count, p.count_is_estimate), (10_001, true), "an estimate is never below what was counted");
        let p = Page::counted(10_001, vec![1], || 1_000_000);
        assert_eq!(p.count, 1_000_000);
        assert_eq!(scale_estimate(50, 10_000, 1_000_000), 5_000);
    }

    #[test]
    fn slices_past_the_end_are_empty() {
        let all = [1, 2, 3];
        assert_eq!(PageRequest { offset: 2, limit: 5 }.slice(&all), vec![3]);
        assert!(PageRequest { offset: 9, limit: 5 }.slice(&all).is_empty());
    }
}
